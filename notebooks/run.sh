#!/usr/bin/env bash
# Runs every notebook here on .NET Interactive's C# kernel (tests/Snn.Notebooks.Runner, what Polyglot Notebooks runs)
# against the packages `dotnet pack` makes, and writes each notebook back with its outputs: tables, text, and each
# Plotly.NET chart both as the interactive chart and as a PNG drawn by Chromium (GitHub's viewer runs no scripts).
# The notebooks' #i line names /path/to/snn/artifacts; the run puts this clone's artifacts folder there (and shows the
# placeholder again in the outputs). Needs chromium on PATH (apt-get install -y chromium).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
dotnet build Pipeline.sln -c Release -nologo -clp:ErrorsOnly
rm -rf artifacts
dotnet pack Pipeline.sln -c Release --no-build -nologo -o artifacts
dotnet tests/Snn.Notebooks.Runner/bin/Release/net10.0/Snn.Notebooks.Runner.dll --source artifacts --png notebooks/*.ipynb
