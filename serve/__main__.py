"""`python -m serve`: load and verify the model, then serve it with gunicorn (SageMaker hosting contract).

The cyclic garbage collector stays off while the libraries and the model load: they allocate only
long-lived objects, and collecting them cost about 0.2 s of the cold start. `serve.cli` freezes them
and turns the collector back on before the workers fork.

OMP_NUM_THREADS defaults to 1 before scikit-learn loads the OpenMP runtime, which reads it once: a
limit set later (threadpoolctl) holds only for the thread that sets it, not for the request threads.
"""

import gc
import os
import sys

if __name__ == "__main__":
    gc.disable()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from serve.cli import main

    sys.exit(main())
