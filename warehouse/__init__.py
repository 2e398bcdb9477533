"""Transform and serve: the model runner, data tests, publishing and the nightly run."""
