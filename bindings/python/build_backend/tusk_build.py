"""The PEP 517 build backend of the tusk package: standard library only, so `pip install
bindings/python` needs no network (a fresh venv holds pip and setuptools but not `wheel`).

The package is pure Python (ctypes over libtusk), so the default wheel is py3-none-any and
finds libtusk at run time (tusk/_lib.py says where). A wheel that carries its own copy of the
library is built by naming the file, as a config setting or in the environment:

    pip wheel bindings/python --config-settings library=/usr/lib/x86_64-linux-gnu/libtusk.so.0
    TUSK_WHEEL_LIBRARY=$PWD/build/lib/libtusk.so.0 pip wheel bindings/python

(absolute paths: pip runs this backend in the package's folder).

The copy lands in tusk/lib/libtusk.so.0 and the wheel is tagged for this platform. It still
needs the library's own dependencies (oneDNN, SentencePiece, cpuinfo, zstd) from the system,
so it is for machines like the one that built it (an app's own deployment), not for PyPI
(no manylinux tag: auditwheel would have to bundle those too).
"""
import base64
import hashlib
import io
import os
import re
import sysconfig
import tarfile
import zipfile

NAME = "tusk"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_FILES = ("__init__.py", "_lib.py", "_version.py", "py.typed")
SDIST_FILES = ("pyproject.toml", "README.md", "build_backend/tusk_build.py")


def _version():
    with open(os.path.join(ROOT, NAME, "_version.py"), encoding="utf-8") as f:
        found = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if not found:
        raise RuntimeError("tusk/_version.py has no __version__ line")
    return found.group(1)


def _metadata():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {_version()}\n"
        "Summary: Python binding of Tusk, the embedded Mixture-of-Experts translation SDK (ctypes over libtusk)\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/markdown\n"
        "\n" + readme)


def _bundled_library(config_settings):
    path = (config_settings or {}).get("library") or os.environ.get("TUSK_WHEEL_LIBRARY")
    if not path:
        return None
    if not os.path.isfile(path):
        raise RuntimeError(f"the library to bundle is not a file: {path} (give an absolute path: pip runs "
                           "this backend in the package's folder)")
    return path


def _dist_info():
    return f"{NAME}-{_version()}.dist-info"


class _Wheel:
    """A wheel being written: each file is recorded with its hash, then RECORD closes it."""

    def __init__(self, directory, tag):
        self.name = f"{NAME}-{_version()}-{tag}.whl"
        self._zip = zipfile.ZipFile(os.path.join(directory, self.name), "w", zipfile.ZIP_DEFLATED)
        self._record = []

    def add(self, arcname, data, mode=0o644):
        info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self._zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self._record.append(f"{arcname},sha256={digest},{len(data)}")

    def close(self):
        record = f"{_dist_info()}/RECORD"
        self._record.append(f"{record},,")
        self._zip.writestr(zipfile.ZipInfo(record, date_time=(1980, 1, 1, 0, 0, 0)),
                           "\n".join(self._record) + "\n")
        self._zip.close()
        return self.name


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _finish(wheel, pure, tag):
    info = _dist_info()
    wheel.add(f"{info}/METADATA", _metadata().encode())
    wheel.add(f"{info}/WHEEL", (
        "Wheel-Version: 1.0\n"
        "Generator: tusk_build\n"
        f"Root-Is-Purelib: {'true' if pure else 'false'}\n"
        f"Tag: {tag}\n").encode())
    return wheel.close()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    library = _bundled_library(config_settings)
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    tag = f"py3-none-{platform}" if library else "py3-none-any"
    wheel = _Wheel(wheel_directory, tag)
    for name in PACKAGE_FILES:
        wheel.add(f"{NAME}/{name}", _read(os.path.join(ROOT, NAME, name)))
    if library:
        wheel.add(f"{NAME}/lib/libtusk.so.0", _read(library), mode=0o755)
    return _finish(wheel, pure=not library, tag=tag)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a wheel holding only a .pth that puts this source folder on sys.path."""
    wheel = _Wheel(wheel_directory, "py3-none-any")
    wheel.add(f"__editable__.{NAME}.pth", (ROOT + "\n").encode())
    return _finish(wheel, pure=True, tag="py3-none-any")


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    name = f"{base}.tar.gz"
    files = list(SDIST_FILES) + [f"{NAME}/{n}" for n in PACKAGE_FILES]
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            tar.add(os.path.join(ROOT, rel), arcname=f"{base}/{rel}")
        pkg_info = _metadata().encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(pkg_info))
    return name
