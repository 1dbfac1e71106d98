# `cpack -G DEB` (run in the build folder): one Debian package of everything `cmake --install`
# puts (all components), under /usr. Depends is computed by dpkg-shlibdeps from the ELF files,
# so it names the Debian packages of the libraries actually linked; the bindings' interpreters
# are only suggested, since an app of any one language needs only its own.
set(CPACK_PACKAGE_NAME tusk)
set(CPACK_PACKAGE_VENDOR "Tusk")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Embedded Mixture-of-Experts translation SDK (library, CLI, bindings)")
set(CPACK_PACKAGE_DESCRIPTION "libtusk with its C header, CMake package and pkg-config file,
the tusk command-line tool with a bundled en/de/fr/cs model, and the Python,
Java and C# bindings. The CUDA plugin is not included.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Tusk developers <tusk@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION misc)  # library, tool and bindings in one package
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3 (>= 3.8), libjna-java, default-jre-headless | java11-runtime-headless, mono-runtime")
# A shlibs file, so packages linking libtusk depend on it: on this version or later, since a
# MINOR or PATCH release keeps the ABI (README, "Versioning").
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# Every component but the CUDA plugin (component cuda): it links the CUDA toolkit's cuBLAS,
# which no Debian 12 package provides, so dpkg-shlibdeps could not state that dependency.
set(CPACK_INSTALL_CMAKE_PROJECTS
    "${CMAKE_BINARY_DIR};tusk;runtime;/"
    "${CMAKE_BINARY_DIR};tusk;development;/"
    "${CMAKE_BINARY_DIR};tusk;cli;/"
    "${CMAKE_BINARY_DIR};tusk;bindings;/")
set(CPACK_STRIP_FILES ON)
include(CPack)
