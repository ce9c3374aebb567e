import gc

from portal import create_app

app = create_app()
# Everything made at start-up lives as long as the process: move it out of the collector's way, so
# the full collections that requests trigger (an ORM page leaves tens of thousands of objects)
# scan only what requests made. Without it, every sixth catalog page paid ~120 ms (bench/).
gc.freeze()
