"""Paper result 'fig8', computed from the model; writes fig8.png/.pdf/.h5 and summary.json to validation/out/fig8."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig8"], out="validation/out/fig8")["fig8"])
