"""Paper result 'fig6', computed from the model; writes fig6.png/.pdf/.h5 and summary.json to validation/out/fig6."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig6"], out="validation/out/fig6")["fig6b"])
