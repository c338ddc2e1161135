"""``mic_transport``: which way should the microphone reach the server? Capture → server receipt.

The voice input needs the user's audio on the server as soon as it is captured. Candidates, each
measured from headless Chromium with its fake microphone against one loopback server in its own
process (``python -m benchmarks.mic_transport serve --port N``):

1. **Gradio**: ``gr.Audio(sources=["microphone"], streaming=True)`` with a ``.stream(...)``
   handler in a minimal Blocks app, at the default ``stream_every`` (0.5 s) and at 0.1 s
   (Gradio 6.31's audio component sets 0.1 s itself, see below, so smaller does not exist). Its
   page records with a WAV ``MediaRecorder`` sliced every ``stream_every``; each slice is
   uploaded, queued, decoded and handed to the handler.
2. **WebSocket**: a minimal page whose script does what ``static/voice_input.js`` does, with the
   product's own AudioWorklet source (read from that file): 16 kHz PCM16 in 20 ms frames, each
   sent on a WebSocket as a binary frame as soon as the worklet posts it. The endpoint is a
   minimal equivalent of ``/v1/voice`` (``receive`` and timestamp); the product's socket does the
   same before handing the frame to the speech engine.
3. **WebRTC**: the page's ``RTCPeerConnection`` sends the microphone track (Opus, 20 ms
   packets) to ``aiortc`` on the server; receipt is when ``track.recv()`` returns a decoded
   frame. Measured only when ``aiortc`` can be imported (a benchmark-only dependency).

Method. The microphone plays a WAV of ``BURSTS`` 100 ms tone bursts, each at its own pitch
(400 Hz + 150 Hz · k), separated by digital silence of irregular length (so the onsets fall at
every phase of a transport's chunking). Browser and server share the machine's wall clock: the
page's ``Date.now()`` and the server's ``time.time()``. An init script wraps
``navigator.mediaDevices.getUserMedia`` so that every stream a page obtains (Gradio's own
included) is also tapped by an AudioWorklet that detects each burst's onset (the first sample
over ``THRESHOLD`` after at least ``QUIET_S`` below it) and stamps it right there, on the audio
thread: the moment the captured sample is available to the page, which is where every transport
starts. The server runs the same detector on what it receives, tells the burst by its pitch, and
stamps it with when the chunk holding its onset reached the app's code (the ``.stream``
handler, the WebSocket ``receive``, ``track.recv()``). Capture → receipt is the server's stamp
of burst k − the page's stamp of burst k; a burst the server never identified (lost audio) is
counted and reported, not paired. The tap and a transport's own audio graph render their
quanta independently, so a figure is good to a few ms (the WebSocket's can even come out
slightly negative).

What this includes: the transport's own chunking (a burst waits for its slice or frame to
close), encoding, upload, any queue and decoding. What it leaves out: the microphone's own
capture buffering before the page sees the sample, the same for every transport.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from benchmarks.common import REPO, Row, free_port, p50, p95, stop, wait_healthy
from tests.speech_support import RATE, write_wav

BURSTS = 16
BURST_MS = 100
FIRST_BURST_MS = 2500  # after the page's transport is up (WebRTC negotiates first)
GAPS_MS = tuple(500 + (i * 173) % 250 for i in range(BURSTS))  # 500..749 ms, irregular
THRESHOLD = 0.05  # of full scale; the bursts are at 0.5
QUIET_S = 0.2  # a burst starts after this much quiet: shorter than any gap
WINDOW_S = 0.02  # of a burst, to read its pitch: 50 Hz bins
BASE_HZ, STEP_HZ = 400.0, 150.0  # burst k's pitch: 400 Hz + 150 Hz · k
VARIANTS = {
    # name: (page path, how it starts, description)
    "gradio-0.5": ("/gradio-default/", "gradio", "Gradio gr.Audio streaming, stream_every=0.5"),
    "gradio-0.1": ("/gradio-fast/", "gradio", "Gradio gr.Audio streaming, stream_every=0.1"),
    "websocket": ("/ws-page", "button", "WebSocket, 20 ms PCM16 frames (voice_input.js)"),
    "webrtc": ("/rtc-page", "button", "WebRTC (aiortc), Opus 20 ms"),
}
WS_TARGET = "≤ Gradio's"


def webrtc_available() -> bool:
    return importlib.util.find_spec("aiortc") is not None


# -- what both ends share ------------------------------------------------------------------------


class Onsets:
    """Finds the bursts in a stream fed chunk by chunk, and which burst each one is.

    An onset is a sample whose magnitude exceeds ``THRESHOLD`` after at least ``QUIET_S`` of
    samples that did not; the burst is told by its pitch (``burst_hz``), read from ``WINDOW_S``
    of samples just after the onset, so a transport that loses audio cannot shift the pairing.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.quiet = int(rate * QUIET_S)
        self.skip = int(rate * 0.005)  # past the onset's ramp (resampling, noise suppression)
        self.window = int(rate * WINDOW_S)
        self.offset = 0  # samples seen so far
        self.last_loud = -(10**12)  # far in the past: the stream starts quiet
        self.pending: list[tuple[int, float]] = []  # onsets not identified yet: (sample, at)
        self.tail = np.zeros(0, dtype=np.float32)  # the samples from the oldest pending onset

    def feed(self, samples: np.ndarray, at: float) -> list[tuple[int, float]]:
        """``samples`` (floats, full scale 1) arrived at ``at``: (burst index, when the chunk
        holding its onset arrived) for each burst identified now; -1 for a pitch not a burst's."""
        loud = np.flatnonzero(np.abs(samples) > THRESHOLD) + self.offset
        if loud.size:
            previous = np.concatenate(([self.last_loud], loud[:-1]))
            self.pending += [(int(i), at) for i in loud[loud - previous > self.quiet]]
            self.last_loud = int(loud[-1])
        self.tail = np.concatenate((self.tail, samples.astype(np.float32)))
        self.offset += len(samples)
        found = []
        while self.pending and self.pending[0][0] + self.skip + self.window <= self.offset:
            onset, arrived = self.pending.pop(0)
            start = onset + self.skip - (self.offset - len(self.tail))
            found.append((self.burst(self.tail[start : start + self.window]), arrived))
        keep_from = self.pending[0][0] if self.pending else self.offset
        self.tail = self.tail[len(self.tail) - (self.offset - keep_from) :]
        return found

    def burst(self, segment: np.ndarray) -> int:
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
        hz = float(np.argmax(spectrum)) * self.rate / len(segment)
        index = round((hz - BASE_HZ) / STEP_HZ)
        return index if 0 <= index < BURSTS else -1


def burst_hz(index: int) -> float:
    return BASE_HZ + STEP_HZ * index


def bursts() -> bytes:
    """The microphone's recording, 16 kHz PCM16: the bursts, each at its own pitch, then 2 s of
    silence."""
    t = np.arange(RATE * BURST_MS // 1000) / RATE
    pcm = bytes(RATE * FIRST_BURST_MS // 1000 * 2)
    for index, gap in enumerate(GAPS_MS):
        tone = np.sin(2 * np.pi * burst_hz(index) * t) * 16_000
        pcm += tone.astype("<i2").tobytes() + bytes(RATE * gap // 1000 * 2)
    return pcm + bytes(RATE * 2 * 2)


def pair(page: Sequence[float], server: Sequence[tuple[int, float]]) -> list[float]:
    """Capture → receipt in ms for each burst the server identified: the page saw every burst,
    in order (``page[k]`` is burst k's onset), so a burst the transport lost leaves no gap."""
    return [(at - page[k]) * 1000 for k, at in server if 0 <= k < len(page)]


# -- the server ----------------------------------------------------------------------------------


def _worklet() -> str:
    """The product's AudioWorklet (voice_input.js), with its constants filled in."""
    source = (REPO / "playground/ui/static/voice_input.js").read_text()
    match = re.search(r"const WORKLET = `(.*?)`;", source, re.S)
    if match is None:
        raise RuntimeError("voice_input.js has no WORKLET template any more")
    return match.group(1).replace("${RATE}", "16000").replace("${FRAME}", "320")


WS_PAGE = """<!doctype html><button id=start>Start</button><script>
const WORKLET = %s;
document.querySelector('#start').onclick = async () => {
  const ws = new WebSocket('ws://' + location.host + '/ws');
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve) => { ws.onopen = resolve; });
  // As voice_input.js opens the microphone.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true,
             channelCount: 1 },
  });
  const ctx = new AudioContext({ sampleRate: 16000 });
  const url = URL.createObjectURL(new Blob([WORKLET], { type: 'application/javascript' }));
  await ctx.audioWorklet.addModule(url);
  const node = new AudioWorkletNode(ctx, 'sp-mic-frames', {
    numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit',
  });
  node.port.onmessage = (event) => ws.send(event.data.pcm);
  ctx.createMediaStreamSource(stream).connect(node);
  if (ctx.state === 'suspended') await ctx.resume();
  window.__ready = true;
};
</script>"""

RTC_PAGE = """<!doctype html><button id=start>Start</button><script>
document.querySelector('#start').onclick = async () => {
  const pc = new RTCPeerConnection();
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true,
             channelCount: 1 },
  });
  for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
  const answer = await fetch('/offer', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  await pc.setRemoteDescription(await answer.json());
  window.__pc = pc;
  window.__ready = true;
};
</script>"""


def server_app() -> Any:
    """The loopback server: every candidate, and ``GET /onsets`` (receipt stamps by variant)."""
    import playground  # noqa: F401  (first: importing it keeps gradio and the hub offline)

    # isort: split
    import gradio as gr

    received: dict[str, list[tuple[int, float]]] = {name: [] for name in VARIANTS}
    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})
    app.get("/onsets")(lambda: received)
    keep: list[Any] = []  # peer connections and their readers, alive until the server stops

    def stamp(variant: str, detector: Onsets, samples: np.ndarray, at: float) -> None:
        received[variant].extend(detector.feed(samples, at))

    def gradio_demo(variant: str, every: float) -> Any:
        detector: list[Onsets] = []  # made at the first chunk, when its rate is known

        def on_chunk(audio: tuple[int, np.ndarray] | None) -> None:
            at = time.time()
            if audio is None:
                return
            rate, data = audio
            mono = data if data.ndim == 1 else data[:, 0]
            if not detector:
                detector.append(Onsets(rate))
            scale = 32768.0 if mono.dtype == np.int16 else 1.0
            stamp(variant, detector[0], mono.astype(np.float32) / scale, at)

        with gr.Blocks() as demo:
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", elem_id="mic")
            mic.stream(on_chunk, mic, None, stream_every=every)
        return demo

    @app.get("/ws-page")
    def ws_page() -> HTMLResponse:
        return HTMLResponse(WS_PAGE % json.dumps(_worklet()))

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        detector = Onsets(16_000)
        try:
            while True:
                frame = await socket.receive_bytes()
                at = time.time()
                samples = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768
                stamp("websocket", detector, samples, at)
        except WebSocketDisconnect:
            pass

    @app.get("/rtc-page")
    def rtc_page() -> HTMLResponse:
        return HTMLResponse(RTC_PAGE)

    @app.post("/offer")
    async def offer(request: Request) -> dict[str, str]:
        aiortc = importlib.import_module("aiortc")
        body = await request.json()
        pc = aiortc.RTCPeerConnection()
        keep.append(pc)

        @pc.on("track")  # type: ignore[untyped-decorator]
        def on_track(track: Any) -> None:
            async def read() -> None:
                detector: Onsets | None = None
                while True:
                    try:
                        frame = await track.recv()
                    except Exception:  # noqa: BLE001 - MediaStreamError: the track ended
                        return
                    at = time.time()
                    # Interleaved s16; the first channel is enough to find an onset.
                    data = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
                    if detector is None:
                        detector = Onsets(frame.sample_rate)
                    stamp("webrtc", detector, data.astype(np.float32) / 32768, at)

            keep.append(asyncio.ensure_future(read()))

        await pc.setRemoteDescription(aiortc.RTCSessionDescription(body["sdp"], body["type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    app = gr.mount_gradio_app(app, gradio_demo("gradio-0.5", 0.5), path="/gradio-default")
    return gr.mount_gradio_app(app, gradio_demo("gradio-0.1", 0.1), path="/gradio-fast")


# -- the browser ---------------------------------------------------------------------------------

# Every getUserMedia stream is tapped: each onset stamped on the wall clock (Date.now(), 1 ms
# steps) by the page's audio thread as it has the sample, not by the main thread, which a busy
# page (Gradio's) would make late.
# Gradio opens the microphone twice (once to list the devices, once to record): the onsets are
# the latest stream's, the one a transport sends.
TAP = """
window.__taps = [];
Object.defineProperty(window, '__onsets', {
  get: () => (window.__taps.length ? window.__taps[window.__taps.length - 1] : []),
});
const TAP = `
class SpOnsetTap extends AudioWorkletProcessor {
  constructor() { super(); this.quiet = Math.round(sampleRate * QUIET_S); this.n = 0;
                  this.last = -1e12; }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (input) {
      for (let i = 0; i < input.length; i++) {
        if (Math.abs(input[i]) > THRESHOLD) {
          if (this.n + i - this.last > this.quiet) this.port.postMessage(Date.now());
          this.last = this.n + i;
        }
      }
      this.n += input.length;
    }
    return true;
  }
}
registerProcessor('sp-onset-tap', SpOnsetTap);`;
const realGetUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await realGetUserMedia(constraints);
  const ctx = new AudioContext();
  const url = URL.createObjectURL(new Blob([TAP], { type: 'application/javascript' }));
  await ctx.audioWorklet.addModule(url);
  const node = new AudioWorkletNode(ctx, 'sp-onset-tap', { numberOfOutputs: 0 });
  const onsets = [];
  window.__taps.push(onsets);
  node.port.onmessage = (event) => onsets.push(event.data);
  ctx.createMediaStreamSource(stream).connect(node);
  if (ctx.state === 'suspended') await ctx.resume();
  return stream;
};
""".replace("QUIET_S", str(QUIET_S)).replace("THRESHOLD", str(THRESHOLD))


async def _one(url: str, variant: str, wav: str) -> tuple[list[float], list[tuple[int, float]]]:
    """One variant in a fresh Chromium (the fake microphone plays its file once per launch):
    the page's onset stamps, and the server's (burst, receipt) stamps, in wall-clock seconds."""
    import httpx
    from playwright.async_api import async_playwright

    from tests.page_support import PAGE_LOAD_MS, chromium_args

    path, how, _ = VARIANTS[variant]
    # WebRTC on one machine: candidates with the real address, not an mDNS name aiortc cannot
    # resolve.
    args = [*chromium_args(wav), "--disable-features=WebRtcHideLocalIpsWithMdns"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            context = await browser.new_context()
            await context.add_init_script(TAP)
            page = await context.new_page()
            await page.goto(url + path)
            if how == "gradio":
                record = page.locator("#mic button.record-button")
                await record.wait_for(timeout=PAGE_LOAD_MS)
                await record.click()
            else:
                await page.click("#start")
            seconds = len(bursts()) / (RATE * 2)
            await page.wait_for_function(
                "(n) => window.__onsets.length >= n", arg=BURSTS, timeout=(seconds + 20) * 1000
            )
            async with httpx.AsyncClient() as client:
                # The last bursts may still be on their way; a transport that lost some never
                # brings them: wait until all arrived or none came for 5 s.
                server: list[tuple[int, float]] = []
                quiet_since = time.monotonic()
                while len(server) < BURSTS and time.monotonic() - quiet_since < 5:
                    await asyncio.sleep(0.2)
                    now = (await client.get(f"{url}/onsets")).json()[variant]
                    if len(now) > len(server):
                        quiet_since = time.monotonic()
                    server = [(int(k), float(at)) for k, at in now]
            page_onsets: list[float] = await page.evaluate("window.__onsets")
            return [t / 1000 for t in page_onsets], server
        finally:
            await browser.close()


async def _measure(url: str, variants: Sequence[str]) -> dict[str, tuple[list[float], int]]:
    out: dict[str, tuple[list[float], int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = str(write_wav(Path(tmp) / "bursts.wav", bursts()))
        for variant in variants:
            page, server = await _one(url, variant, wav)
            out[variant] = (pair(page, server), len(server))
    return out


@contextmanager
def _served() -> Iterator[str]:
    """This module's server in its own process (as ``common.served`` runs the apps)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.mic_transport", "serve", "--port", str(port)], cwd=REPO
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/healthz", process)
        yield url
    finally:
        stop(process)


def run() -> list[Row]:
    variants = [v for v in VARIANTS if v != "webrtc" or webrtc_available()]
    with _served() as url:
        results = asyncio.run(_measure(url, variants))
    for variant, (latency, paired) in results.items():
        print(
            f"mic_transport {variant}: {paired}/{BURSTS} bursts reached the server; "
            "capture → receipt (ms): " + ", ".join(f"{v:.0f}" for v in latency),
            flush=True,
        )
    ws = results["websocket"][0]
    baseline = min((results[v][0] for v in ("gradio-0.5", "gradio-0.1")), key=p50)
    rows: list[Row] = []
    for variant, (latency, _) in results.items():
        description = VARIANTS[variant][2]
        for name, stat in (("p50", p50), ("p95", p95)):
            is_ws = variant == "websocket"
            rows.append(
                Row(
                    "mic_transport",
                    f"capture → server receipt, {name}: {description}",
                    stat(latency),
                    "ms",
                    stat(baseline) if is_ws else None,
                    WS_TARGET if is_ws else "",
                    stat(ws) <= stat(baseline) if is_ws else None,
                )
            )
    if not webrtc_available():
        rows.append(
            Row("mic_transport", "WebRTC not measured: aiortc is not installed", float("nan"), "")
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(server_app(), host="127.0.0.1", port=args.port, log_level="warning")
