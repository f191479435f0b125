"""Many products at once: a resumable batch runner on dask.distributed.

One task per product (mask, then compare with SCL where the product has one),
on a LocalCluster sized for this machine or on a cluster the user names.
Outputs are atomic and named by product id, so a rerun skips what is done;
a product that fails is recorded with its message and never stops the others.
dask is imported only when a run starts, so the plugin loads without it.

    inputs.py    what the user names (folder, glob, list file, STAC items) -> product paths
    workers.py   how many workers, and cores each, this machine holds
    records.py   one JSON record per product: the resume state and the summary's row
    task.py      what a worker does with one product
    cluster.py   a LocalCluster or the named scheduler, as a dask Client
    runner.py    submit, retry the products of dead workers, report progress, honour cancel
    summary.py   summary.csv and summary.json in the output folder
    cli.py       the command line (`make batch`, `python -m s2cloudmask.inference.batch`)
"""
