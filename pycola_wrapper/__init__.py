"""Fast COLA N-body engine with a pyCOLA-style API: ICs reader, 2LPT, PM, COLA."""
