global using Snn.Ops;
