"""Translates one sentence with the model given on the command line, from an installed tusk
package, and says which libtusk it loaded (what the install test checks)."""
import sys

import tusk
from tusk import _lib

with tusk.Translator(sys.argv[1]) as translator:
    print(translator.translate("A dog runs.", src="en", tgt="de"))
print(f"tusk {tusk.__version__} loaded {_lib.lib._name}", file=sys.stderr)
