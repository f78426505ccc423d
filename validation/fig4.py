"""Paper result 'fig4', computed from the model; writes fig4.png/.pdf/.h5 and summary.json to validation/out/fig4."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig4"], out="validation/out/fig4")["fig4"])
