"""``nzarc.neural`` bitstream version 2: the integer LM mixed with adaptive context models.

:mod:`.lmnodes` turns LM frequency tables into the binary-decision counts of a token's id
bits; :mod:`.kernel` is the exact integer mixer (numba) that codes those decisions with a
range coder; :mod:`.lanes` lays a chunk out in lanes and windows and codes it.
spec/NEURAL-CODEC.md section 5 specifies the bitstream; spec/NEURAL-MIX.md gives the design.
"""
