"""Paper result 'fig10', computed from the model; writes fig10.png/.pdf/.h5 and summary.json to validation/out/fig10."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig10"], out="validation/out/fig10")["fig10"])
