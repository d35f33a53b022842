"""`python -m serve`: load and verify the model, then serve it with gunicorn (SageMaker hosting contract).

The cyclic garbage collector stays off while the libraries and the model load: they allocate only
long-lived objects, and collecting them cost about 0.2 s of the cold start. `serve.cli` freezes them
and turns the collector back on before the workers fork.
"""

import gc
import sys

if __name__ == "__main__":
    gc.disable()
    from serve.cli import main

    sys.exit(main())
