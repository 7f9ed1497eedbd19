global using System.Runtime.CompilerServices;
global using System.Runtime.Intrinsics;
global using Snn.Kernels;
