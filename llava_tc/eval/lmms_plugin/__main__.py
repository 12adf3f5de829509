"""`python -m llava_tc.eval.lmms_plugin ARGS`: lmms-eval's own CLI (`lmms-eval ARGS`), after defining the ops a
CPU-incompatible torchvision wheel lacks (`llava_tc.torchvision_compat`; a no-op where torchvision loads). On CPU
machines, where pip installs the CUDA build of torchvision next to the CPU torch, this is how to run lmms-eval."""

import runpy
import sys

from llava_tc.torchvision_compat import ensure_torchvision_ops

ensure_torchvision_ops()
sys.argv[0] = "lmms_eval"
runpy.run_module("lmms_eval", run_name="__main__", alter_sys=True)
