global using Snn.Ops;
global using Snn.Kernels;
