"""Paper result 'fig7', computed from the model; writes fig7.png/.pdf/.h5 and summary.json to validation/out/fig7."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig7"], out="validation/out/fig7")["fig7b"])
