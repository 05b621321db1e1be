# Compiled framing helpers: owned by the framing work (issue 4).
