"""Paper result 'fig3', computed from the model; writes fig3.png/.pdf/.h5 and summary.json to validation/out/fig3."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig3"], out="validation/out/fig3")["fig3"])
