"""`llava-tc demo`: the paper in miniature on CPU, offline. A synthetic dataset, a grid of tiny VLMs trained from
scratch through `llava-tc train` (3 LLM sizes x 4 token counts x {pool, quecc}), `llava-tc eval` on every run, the
scaling-law fit and frontier, and a report whose findings are written from the numbers.

    from llava_tc.demo import PLANS, run_demo
    outcome = run_demo("demo_out", PLANS["quick"], seed=0)
"""

from llava_tc.demo.grid import PLANS, DemoPlan, LLMSize
from llava_tc.demo.pipeline import DemoOutcome, run_demo

__all__ = ["PLANS", "DemoOutcome", "DemoPlan", "LLMSize", "run_demo"]
