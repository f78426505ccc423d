"""Paper result 'convergence', computed from the model; writes convergence.png/.pdf/.h5 and summary.json to validation/out/convergence."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["convergence"], out="validation/out/convergence")["convergence"])
