# Declarations for the compiled framing helpers (delimiter search, length prefixes): see framing.pyx.
