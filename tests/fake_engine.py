"""What the Pulumi engine is to a component package, in-process: start the plugin, serve the engine and the monitor.

The engine runs a Python plugin as `python <folder> <engine-address>`, reads the port it prints, and calls its
ResourceProvider service; during Construct the plugin calls back the engine (logs) and the resource monitor (every
child resource, data sources, registered outputs). The SDK ships the gRPC stubs for all three in pulumi.runtime.proto.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pulumi
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, resource_pb2, resource_pb2_grpc

from conftest import RecordingMocks


def struct(values: dict) -> struct_pb2.Struct:
    """A protobuf Struct as the wire carries properties: every number becomes a float."""
    message = struct_pb2.Struct()
    message.update(values)
    return message


class FakeEngine(engine_pb2_grpc.EngineServicer):
    """The engine service: records the diagnostics the plugin logs."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, str]] = []

    def Log(self, request, context):  # noqa: N802 - gRPC method name
        """Record one diagnostic (severity, message)."""
        self.logs.append((request.severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        """No stack resource: the plugin runs inside someone else's program."""
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request, context):  # noqa: N802
        """Accepted and ignored."""
        return engine_pb2.SetRootResourceResponse()


class FakeMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """The resource monitor: registers resources through RecordingMocks, recording parents, URNs and outputs."""

    def __init__(self, project: str, stack: str) -> None:
        self.project, self.stack = project, stack
        self.mocks = RecordingMocks()
        self.parents: dict[str, str] = {}
        self.urns: dict[str, str] = {}
        self.registered_outputs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine would give: the parent's type chain, then this type and name."""
        if parent:
            type_ = parent.split("::")[2] + "$" + type_
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def GetDeploymentInfo(self, request, context):  # noqa: N802
        """Secrets and alias specs, as any current engine; no output values or resource references, so inputs
        arrive as plain JSON."""
        return resource_pb2.DeploymentInfo(supportedFeatures=[resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS,
                                                              resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS])

    def SupportsFeature(self, request, context):  # noqa: N802
        """The legacy probe, answering as GetDeploymentInfo does."""
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in ("secrets", "aliasSpecs"))

    def RegisterResource(self, request, context):  # noqa: N802
        """Record the resource and answer with the state the mocks fake for it."""
        inputs = json_format.MessageToDict(request.object)
        urn = self.urn(request.parent, request.type, request.name)
        args = pulumi.runtime.MockResourceArgs(typ=request.type, name=request.name, inputs=inputs,
                                               provider=request.provider, resource_id="", custom=request.custom)
        with self._lock:
            resource_id, state = self.mocks.new_resource(args) if request.custom else ("", {})
            if not request.custom:
                self.mocks.resources.append({"type": request.type, "name": request.name, "inputs": inputs})
            self.parents[request.name], self.urns[request.name] = request.parent, urn
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=struct(state))

    def RegisterResourceOutputs(self, request, context):  # noqa: N802
        """Record the outputs a component registers."""
        with self._lock:
            self.registered_outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return empty_pb2.Empty()

    def Invoke(self, request, context):  # noqa: N802
        """Data sources (the ECR token), answered by the mocks."""
        args = pulumi.runtime.MockCallArgs(token=request.tok, args=json_format.MessageToDict(request.args),
                                           provider=request.provider)
        with self._lock:
            result = self.mocks.call(args)
        return resource_pb2.ResourceInvokeResponse(**{"return": struct(result)})

    def RegisterPackage(self, request, context):  # noqa: N802
        """Not used without parameterized packages; answered for safety."""
        return resource_pb2.RegisterPackageResponse(ref="fake-package")

    def SignalAndWaitForShutdown(self, request, context):  # noqa: N802
        """Nothing to wait for."""
        return empty_pb2.Empty()


def serve(engine: FakeEngine, monitor: FakeMonitor) -> tuple[grpc.Server, str, str]:
    """Both services on loopback; returns the server, the engine address and the monitor address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}", f"127.0.0.1:{port}"


def start_plugin(folder: Path, engine_address: str, cwd: Path,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    """Start a plugin folder exactly as the engine does; returns the process and the port it printed."""
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: nobody reads stderr while the plugin runs
    process = subprocess.Popen([sys.executable, str(folder), engine_address], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=log, text=True, env={**os.environ, **(env or {})})
    process.log = log  # type: ignore[attr-defined]
    line = process.stdout.readline().strip()
    if not line.isdigit():
        stop(process)
        raise RuntimeError(f"the plugin printed {line!r} instead of a port: {stderr(process)[-3000:]}")
    return process, int(line)


def stderr(process: subprocess.Popen) -> str:
    """What the plugin wrote to stderr so far."""
    process.log.seek(0)  # type: ignore[attr-defined]
    return process.log.read()  # type: ignore[attr-defined]


def stop(process: subprocess.Popen) -> None:
    """Stop the plugin the way the engine does at the end of a run."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()
