# Writes weightless deep TF.js models for the compile-time curve (compile_curve.sh): seqN/model.json, a Sequential
# chain of N ReLU/Activation layers, and funN/model.json, a Functional chain of N ReLUs listed in reverse order.
# Usage: python3 deep_models.py N [N ...] (in the folder to write to).
import json, sys, os
def seq(n, path):
    layers=[{"class_name":"InputLayer","config":{"batch_input_shape":[None,8],"dtype":"float32","name":"in"}}]
    for i in range(n):
        layers.append({"class_name":"ReLU","config":{"name":f"r{i}"}} if i%2==0 else {"class_name":"Activation","config":{"activation":"relu","name":f"a{i}"}})
    d={"format":"layers-model","modelTopology":{"class_name":"Sequential","config":{"name":"s","layers":layers}},"weightsManifest":[{"paths":[],"weights":[]}]}
    os.makedirs(path,exist_ok=True); json.dump(d,open(path+"/model.json","w"))
def func(n, path):
    # functional chain, layers listed in reverse order
    layers=[{"class_name":"InputLayer","name":"in","config":{"batch_input_shape":[None,8],"dtype":"float32","name":"in"},"inbound_nodes":[]}]
    prev="in"
    for i in range(n):
        layers.append({"class_name":"ReLU","name":f"r{i}","config":{"name":f"r{i}"},"inbound_nodes":[[[prev,0,0,{}]]]})
        prev=f"r{i}"
    layers=[layers[0]]+layers[1:][::-1]
    d={"format":"layers-model","modelTopology":{"class_name":"Model","config":{"name":"f","layers":layers,"input_layers":[["in",0,0]],"output_layers":[[prev,0,0]]}},"weightsManifest":[{"paths":[],"weights":[]}]}
    os.makedirs(path,exist_ok=True); json.dump(d,open(path+"/model.json","w"))
for n in map(int, sys.argv[1:]):
    seq(n, f"seq{n}"); func(n, f"fun{n}")
