"""Evaluation: benchmark loaders and official scorers (`llava_tc.eval.benchmarks`) and the results table
(`llava_tc.eval.results`). Kept import-light so that `import llava_tc.eval` never pulls in torch or pandas."""
