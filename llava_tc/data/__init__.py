"""The data pipeline: LLaVA JSON datasets, conversation templates, image preprocessing, collation, grouped sampling
and a synthetic visual-reasoning dataset. Kept light: import the submodules (`llava_tc.data.llava_json`, ...)."""
