global using Snn.Compiler;
