/**
 * The agent's browser phone: one RTCPeerConnection that carries the agent's audio to pycc,
 * and the `/v1/phone` WebSocket that sets it up and carries call control both ways.
 *
 * After the socket opens the phone sends one `offer` holding every ICE candidate (pycc does
 * not trickle), then pycc answers, says `ready` when the phone is registered, and reports
 * every change of a call. When the socket drops, the peer connection goes with it (the audio
 * of pycc's side belonged to that connection) and the phone reconnects with back-off, making
 * a new peer connection and a new offer.
 *
 * The phone knows nothing of the page: it plays the remote audio into the `<audio>` element
 * it is given and reports through DOM events (`connection`, `ready`, `call`, `mute`,
 * `error`), each a CustomEvent with its facts in `detail`.
 */

import { isObject } from "./values.js";

/** How long after "ready" a call pycc did not announce again counts as gone. */
const STALE_AFTER_MS = 3000;

/** First wait before reconnecting, doubled after each failed try up to the most. */
export const RETRY_FIRST_MS = 500;
export const RETRY_MAX_MS = 5000;

/**
 * ICE gathering without STUN servers ends within milliseconds; on a network where it never
 * ends (an interface that never answers), the candidates found by then are sent rather than
 * leaving the agent without a phone.
 */
const GATHERING_LIMIT_MS = 10000;

const DTMF_DIGITS = /^[0-9*#A-D]+$/;

/** Reconnect delays: 0.5 s, 1 s, 2 s, 4 s, then 5 s until `reset`. */
export class Backoff {
  constructor(first = RETRY_FIRST_MS, most = RETRY_MAX_MS) {
    this.first = first;
    this.most = most;
    this.delay = first;
  }

  next() {
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, this.most);
    return delay;
  }

  reset() {
    this.delay = this.first;
  }
}

/** The ws: or wss: URL of `path` on this page's server. */
export function socketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** Resolve once `pc` has gathered all its ICE candidates (or `limitMs` passed). */
export function iceGatheringDone(pc, signal, limitMs = GATHERING_LIMIT_MS) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    if (pc.iceGatheringState === "complete") {
      resolve();
      return;
    }
    const finish = (settle) => {
      pc.removeEventListener("icegatheringstatechange", changed);
      signal.removeEventListener("abort", aborted);
      clearTimeout(timer);
      settle();
    };
    const changed = () => {
      if (pc.iceGatheringState === "complete") finish(resolve);
    };
    const aborted = () => finish(() => reject(signal.reason));
    const timer = setTimeout(() => finish(resolve), limitMs);
    pc.addEventListener("icegatheringstatechange", changed);
    signal.addEventListener("abort", aborted);
  });
}

function reasonOf(error) {
  return (error && error.message) || String(error);
}

export class Phone extends EventTarget {
  /**
   * @param {{url: string, audio: HTMLAudioElement, backoff?: Backoff}} options
   *   `url` is the phone WebSocket, `audio` plays what the other side says.
   */
  constructor({ url, audio, backoff = new Backoff() }) {
    super();
    this.url = url;
    this.audio = audio;
    this.backoff = backoff;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {MediaStream | null} the other side's audio, playing in `audio` */
    this.remoteStream = null;
    /** @type {MediaStream | null} the microphone, kept across reconnects */
    this.localStream = null;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.ready = false;
    this.extension = null;
    this.muted = false;
    /** Calls not ended yet, by the phone's call id. */
    this.calls = new Map();
    this.stopped = true;
    this.retryTimer = null;
    this.abort = null;
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Hang up the connection for good (the agent logged out) and free the microphone. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.dropMedia();
    this.calls.clear();
    if (ws) ws.close(1000, "logged out");
    this.releaseMicrophone();
  }

  releaseMicrophone() {
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
  }

  /** Try again at once instead of waiting out the back-off (the network came back). */
  retryNow() {
    if (this.stopped || this.ws || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  answer(call) {
    return this.send({ op: "answer_call", call });
  }

  hangup(call) {
    return this.send({ op: "hangup", call });
  }

  dial(number) {
    return this.send({ op: "dial", number });
  }

  dtmf(call, digits) {
    if (!DTMF_DIGITS.test(digits)) {
      this.emit("error", { code: "digits" });
      return false;
    }
    return this.send({ op: "dtmf", call, digits });
  }

  hold(call, on) {
    return this.send({ op: "hold", call, on: Boolean(on) });
  }

  transfer(call, target) {
    return this.send({ op: "transfer", call, target });
  }

  /** Attended transfer: the held call's party and whom the agent consulted talk on. */
  completeTransfer(held, consulted) {
    return this.send({ op: "transfer", call: held, to_call: consulted });
  }

  /** Three-way call: whom the agent consulted joins the held call, which resumes. */
  conference(held, consulted) {
    return this.send({ op: "conference", call: held, with: consulted });
  }

  setMute(on) {
    if (!this.send({ op: "mute", on: Boolean(on) })) return false;
    this.muted = Boolean(on);
    // Silenced here as well, so nothing leaves the browser even before pycc acts on it.
    this.enableMicrophone(!this.muted);
    this.emit("mute", { on: this.muted });
    return true;
  }

  send(message) {
    if (!this.connected) {
      this.emit("error", { code: "not-connected" });
      return false;
    }
    this.ws.send(JSON.stringify(message));
    return true;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  connect() {
    this.retryTimer = null;
    let pc;
    try {
      pc = new RTCPeerConnection();
    } catch (error) {
      // No WebRTC in this browser: retrying cannot help.
      this.emit("error", { code: "unsupported", message: reasonOf(error) });
      return;
    }
    const ws = new WebSocket(this.url);
    const abort = new AbortController();
    this.ws = ws;
    this.pc = pc;
    this.abort = abort;
    pc.addEventListener("track", (event) => this.playRemote(pc, event));
    const offer = this.makeOffer(pc, abort.signal);
    // A connection dropped before it opened leaves this promise rejected and unread.
    offer.catch(() => {});
    ws.addEventListener("open", () => this.opened(ws, offer));
    ws.addEventListener("message", (event) => this.received(ws, event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  async microphone() {
    const live = this.localStream?.getAudioTracks().some((track) => track.readyState === "live");
    if (live) return this.localStream;
    try {
      this.localStream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      // Without a microphone the agent still hears callers; the page says why they do not hear back.
      this.localStream = null;
      this.emit("error", { code: "microphone", message: reasonOf(error) });
    }
    return this.localStream;
  }

  async makeOffer(pc, signal) {
    // The microphone first: Chromium hides host ICE candidates behind mDNS names until
    // the page may capture, and pycc cannot resolve those names.
    const stream = await this.microphone();
    // Permission granted after the agent logged out: the microphone must not stay on.
    if (this.stopped) this.releaseMicrophone();
    signal.throwIfAborted();
    const track = stream?.getAudioTracks()[0];
    if (track) {
      track.enabled = !this.muted;
      pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
    } else {
      pc.addTransceiver("audio", { direction: "sendrecv" });
    }
    await pc.setLocalDescription(await pc.createOffer());
    signal.throwIfAborted();
    await iceGatheringDone(pc, signal);
    return pc.localDescription.sdp;
  }

  async opened(ws, offer) {
    if (ws !== this.ws) return;
    this.emit("connection", { up: true });
    let sdp;
    try {
      sdp = await offer;
    } catch (error) {
      if (ws === this.ws) {
        this.emit("error", { code: "media", message: reasonOf(error) });
        ws.close(4000, "no offer");
      }
      return;
    }
    if (ws === this.ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ op: "offer", sdp }));
    }
  }

  received(ws, data) {
    if (ws !== this.ws) return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      message = null;
    }
    if (!isObject(message) || typeof message.op !== "string") {
      this.emit("error", { code: "protocol" });
      return;
    }
    // pycc talks to this phone, so a quick reconnect is worth trying next time.
    this.backoff.reset();
    switch (message.op) {
      case "answer":
        this.answered(message);
        break;
      case "ready":
        this.ready = true;
        this.extension = message.extension == null ? "" : String(message.extension);
        this.emit("ready", { ready: true, extension: this.extension });
        this.forgetUnannounced();
        break;
      case "call":
        this.callChanged(message);
        break;
      case "error":
        this.emit("error", {
          code: "server",
          message: String(message.message ?? ""),
          call: typeof message.call === "string" ? message.call : null,
        });
        break;
      default:
        // An op from a newer pycc: nothing this page can do with it.
        break;
    }
  }

  answered(message) {
    const pc = this.pc;
    if (!pc || typeof message.sdp !== "string") {
      this.emit("error", { code: "protocol" });
      return;
    }
    pc.setRemoteDescription({ type: "answer", sdp: message.sdp }).catch((error) => {
      if (this.pc === pc) this.emit("error", { code: "media", message: reasonOf(error) });
    });
  }

  callChanged(message) {
    if (typeof message.call !== "string" || message.call === "") {
      this.emit("error", { code: "protocol" });
      return;
    }
    const before = this.calls.get(message.call);
    const state = String(message.state ?? before?.state ?? "");
    const talking = state === "answered" || state === "held";
    const call = {
      call: message.call,
      direction: message.direction === "outgoing" || message.direction === "incoming"
        ? message.direction
        : (before?.direction ?? "incoming"),
      state,
      peer: message.peer == null ? (before?.peer ?? "") : String(message.peer),
      pycc_call: typeof message.pycc_call === "string" && message.pycc_call !== ""
        ? message.pycc_call
        : (before?.pycc_call ?? null),
      // Updates may carry only what changed.
      info: { ...(before?.info ?? {}), ...(isObject(message.info) ? message.info : {}) },
      answeredAt: before?.answeredAt ?? (talking ? Date.now() : null),
      lost: false,
      stale: false,
    };
    if (state === "ended") {
      this.calls.delete(call.call);
    } else {
      this.calls.set(call.call, call);
    }
    this.emit("call", call);
  }

  /** After "ready", pycc announces every call it still has; the others are gone (the
   * phone was closed while this page was away). */
  forgetUnannounced() {
    for (const call of this.calls.values()) call.stale = true;
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => {
      for (const call of [...this.calls.values()]) {
        if (!call.stale) continue;
        this.calls.delete(call.call);
        this.emit("call", { ...call, state: "ended", lost: true });
      }
    }, STALE_AFTER_MS);
  }

  playRemote(pc, event) {
    if (pc !== this.pc) return;
    this.remoteStream = event.streams[0] ?? new MediaStream([event.track]);
    this.audio.srcObject = this.remoteStream;
    // Autoplay may wait for a click on a page opened from a saved session; it starts then.
    this.audio.play()?.catch(() => {});
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.dropMedia();
    // pycc keeps the phone and its calls for a while: a page that reconnects in time gets
    // each live call announced again after "ready" (see forgetUnannounced), and the end of
    // those that ended meanwhile.
    if (this.stopped) {
      const calls = [...this.calls.values()];
      this.calls.clear();
      for (const call of calls) this.emit("call", { ...call, state: "ended", lost: true });
      return;
    }
    this.emit("connection", { up: false, code: event.code, reason: event.reason });
    this.retryTimer = setTimeout(() => this.connect(), this.backoff.next());
  }

  dropMedia() {
    this.abort?.abort(new DOMException("the phone connection closed", "AbortError"));
    this.abort = null;
    this.pc?.close();
    this.pc = null;
    this.remoteStream = null;
    if (this.audio) this.audio.srcObject = null;
    if (this.ready) {
      this.ready = false;
      this.emit("ready", { ready: false, extension: this.extension });
    }
    if (this.muted) {
      // A new connection starts unmuted on pycc's side, so the page must too.
      this.muted = false;
      this.enableMicrophone(true);
      this.emit("mute", { on: false });
    }
  }

  enableMicrophone(on) {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = on;
  }
}
