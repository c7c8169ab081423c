"""The five per-simulation stages as functions, one module each: what each rule's script does,
callable from one process for many simulations (``cosmoflow.sim_batch``) as well as from one job
per stage.

Each ``run`` takes paths (and the config), writes its outputs atomically and returns the summary
line its log ends with; log lines of long stages go to ``log`` as they happen. The per-rule
scripts (``workflow/scripts/{cosmology,power,ics,cola,voxels}.py``) and the batch runner call
exactly these, so both paths write the same files from the same inputs. One module per stage,
so that a rule's environment holds only what its own stage imports (tests/test_envs.py).
"""
