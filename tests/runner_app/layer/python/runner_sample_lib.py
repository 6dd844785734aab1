"""Lives in a 'shared' layer: importing it proves layer dirs are on the worker's path."""

GREETING = "hello from the shared layer"
