"""Dataset iteration: listing an ImageFolder, sampling, class filters, shards, robust decoding, the collating
loader (uint8 batches) and matching class folders to the model's classes.

Imports `camviz.discovery` and `camviz.errors` only. Knows nothing about CAMs or output files.
"""
