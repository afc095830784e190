"""CNI: emit conflists for cnictl networks, run plugin chains as libcni does, and serve as a CNI plugin."""
