"""Paper result 'appD', computed from the model; writes appD.png/.pdf/.h5 and summary.json to validation/out/appD."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["appD"], out="validation/out/appD")["appD"])
