// medvoice call page: WebRTC (microphone up, agent voice down), agent events on the data channel.
"use strict";

const FLOW_NAMES = { triage: "分诊", followup: "随访", dictation: "病历口述" };
const ROLE_NAMES = { caller: "来电者", agent: "助理" };
// Stages of agent.metrics, timed from the caller's end of speech.
const STAGES = ["transcript", "reply", "tts_audio", "audio_sent"];
const STAGE_NAMES = { transcript: "转写完成", reply: "回复生成", tts_audio: "语音合成", audio_sent: "开始播放" };
const REASONS = {
  dialogue_finished: "通话已结束", caller_hung_up: "已挂断", ice_timeout: "网络连接超时",
};

const $ = (id) => document.getElementById(id);
const state = { pc: null, channel: null, stream: null, pcId: null, flow: "triage", events: [],
                reconnects: 0, ended: false, turn: 0, metricEvents: false, lastTurn: null };
// Read by the end-to-end browser test and handy in the console.
window.medvoice = state;

function setStatus(text) { $("status").textContent = text; }

function selectedFlow() {
  return document.querySelector('input[name="flow"]:checked').value;
}

function addCaption(role, text) {
  const item = document.createElement("li");
  item.className = role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = (ROLE_NAMES[role] || role) + "：";
  item.append(who, document.createTextNode(text));
  $("captions").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function showTriage(ev) {
  if ("level" in ev) {
    const level = $("triage-level");
    level.textContent = ev.level ? `${ev.level} 级` : "—";
    level.className = ev.level ? `level-${ev.level}` : "";
  }
  if ("department" in ev) $("triage-department").textContent = ev.department || "—";
  if (Array.isArray(ev.red_flags)) {
    const list = $("red-flags");
    list.replaceChildren();
    const evidence = ev.red_flag_evidence || {};
    for (const code of ev.red_flags) {
      const li = document.createElement("li");
      li.className = "alert";
      li.textContent = evidence[code] ? `${code}（“${evidence[code]}”）` : code;
      list.append(li);
    }
    if (!ev.red_flags.length) list.innerHTML = "<li>暂无</li>";
  }
}

function showNote(sections, current) {
  const list = $("note-sections");
  list.replaceChildren();
  for (const [name, text] of Object.entries(sections || {})) {
    const dt = document.createElement("dt");
    dt.textContent = name + (name === current ? "（正在口述）" : "");
    const dd = document.createElement("dd");
    dd.textContent = text;
    list.append(dt, dd);
  }
}

function addTimingRow(stagesMs) {
  state.turn += 1;
  const row = document.createElement("tr");
  for (const cell of [state.turn, ...STAGES.map((s) => (s in stagesMs ? Math.round(stagesMs[s]) : "—"))]) {
    const td = document.createElement("td");
    td.textContent = cell;
    row.append(td);
  }
  $("timings").querySelector("tbody").append(row);
}

function showSummary(stagesMs) {
  const rows = $("timing-summary").querySelector("tbody");
  rows.replaceChildren();
  for (const stage of STAGES) {
    const s = stagesMs[stage] || {};
    const row = document.createElement("tr");
    for (const cell of [STAGE_NAMES[stage], s.p50 ?? "—", s.p95 ?? "—", s.n ?? 0]) {
      const td = document.createElement("td");
      td.textContent = cell;
      row.append(td);
    }
    rows.append(row);
  }
}

// Per-turn timings come as "metrics" events when the service sends them; otherwise the page reads
// the newest turn from /metrics.json once the answer has started playing.
async function refreshTimings() {
  try {
    const snap = await (await fetch("/metrics.json")).json();
    showSummary(snap.stages_ms || {});
    const recent = snap.recent_turns_ms || [];
    if (!state.metricEvents && recent.length && JSON.stringify(recent.at(-1)) !== state.lastTurn) {
      state.lastTurn = JSON.stringify(recent.at(-1));
      addTimingRow(recent.at(-1));
    }
  } catch (err) {
    console.warn("metrics", err);
  }
}

function lastAgentCaption() {
  const items = $("captions").querySelectorAll("li.agent");
  return items[items.length - 1];
}

function onEvent(ev) {
  state.events.push(ev);
  switch (ev.type) {
    case "transcript":
      if (!state.ended) setStatus(`通话中（${FLOW_NAMES[state.flow]}）`);
      if (ev.role === "caller" && ev.final === false) {
        $("interim").textContent = "（识别中）" + ev.text;
      } else {
        if (ev.role === "caller") $("interim").textContent = "";
        addCaption(ev.role, ev.text);
        if (ev.role === "agent") setTimeout(refreshTimings, 1500);
      }
      break;
    case "state":
      if (ev.flow === "dictation" || "sections" in ev) showNote(ev.sections, ev.current_section);
      else showTriage(ev);
      break;
    case "metrics":
      state.metricEvents = true;
      addTimingRow(ev.stages_ms || {});
      break;
    case "barge_in": {
      const line = lastAgentCaption();
      if (line && ev.state === "interrupted") line.classList.add("interrupted");
      if (line && ev.state === "paused") line.classList.add("paused");
      if (line && ev.state === "resumed") line.classList.remove("paused");
      break;
    }
    case "silence":
      setStatus("助理在等您说话……");
      break;
    case "end":
      finish(REASONS[ev.reason] || "通话已结束");
      break;
    case "error":
      setStatus(`出错：${ev.message || ev.code}`);
      break;
    case "signalling":
      if (ev.message && ev.message.type === "peerLeft") finish("通话已结束");
      break;
  }
}

async function waitForIceGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs);
  });
}

async function negotiate(restart) {
  const config = await (await fetch("/api/webrtc/config")).json();
  const pc = new RTCPeerConnection({ iceServers: config.ice_servers });
  for (const track of state.stream.getAudioTracks()) pc.addTrack(track, state.stream);
  const channel = pc.createDataChannel("events", { ordered: true });
  channel.onmessage = (msg) => { try { onEvent(JSON.parse(msg.data)); } catch (err) { console.warn(err); } };
  pc.ontrack = (ev) => { $("agent-audio").srcObject = ev.streams[0] || new MediaStream([ev.track]); };
  pc.onconnectionstatechange = () => {
    if (pc !== state.pc || state.ended) return;
    if (pc.connectionState === "connected") setStatus(`通话中（${FLOW_NAMES[state.flow]}）`);
    if (pc.connectionState === "failed") reconnect();
  };
  await pc.setLocalDescription(await pc.createOffer());
  // Host candidates gather in milliseconds; sending them in the offer saves a round of PATCHes.
  await waitForIceGathering(pc, 2000);
  const body = { sdp: pc.localDescription.sdp, type: "offer", flow: state.flow, ...callOptions() };
  if (restart) Object.assign(body, { pc_id: state.pcId, restart_pc: true });
  const response = await fetch("/api/offer", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) {
    pc.close();
    throw new Error(answer.message || answer.error || `HTTP ${response.status}`);
  }
  if (state.pc) state.pc.close();
  state.pc = pc;
  state.channel = channel;
  state.pcId = answer.pc_id;
  await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
}

// Follow-up and dictation act for a person: the page sends what the WebSocket takes as its query.
function callOptions() {
  if (state.flow === "triage") return {};
  const options = { patient: $("patient").value.trim(), token: $("token").value.trim() };
  if (state.flow === "followup") options.program = $("program").value;
  if (state.flow === "dictation") options.encounter = $("encounter").value.trim();
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value));
}

function showCallOptions() {
  const flow = selectedFlow();
  $("call-options").hidden = flow === "triage";
  $("program-row").hidden = flow !== "followup";
  $("encounter-row").hidden = flow !== "dictation";
}

async function reconnect() {
  if (state.reconnects >= 3) { finish("网络中断，请重新拨打"); return; }
  state.reconnects += 1;
  setStatus(`网络不稳，正在重连（第 ${state.reconnects} 次）……`);
  try { await negotiate(true); } catch (err) { finish(`重连失败：${err.message}`); }
}

async function startCall() {
  state.flow = selectedFlow();
  state.ended = false;
  state.reconnects = 0;
  $("captions").replaceChildren();
  $("timings").querySelector("tbody").replaceChildren();
  state.turn = 0;
  $("note-panel").hidden = state.flow !== "dictation";
  $("triage-panel").hidden = state.flow === "dictation";
  $("call-button").disabled = true;
  setStatus("正在打开麦克风……");
  try {
    // On a loudspeaker the browser must cancel the agent's echo; a headset needs no processing,
    // and noise suppression blurs fast dictation.
    const processing = !$("headset").checked;
    state.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
    });
    setStatus("正在连接……");
    await negotiate(false);
    $("hangup-button").disabled = false;
    $("hangup-button").focus();
  } catch (err) {
    finish(`无法接通：${err.message}`);
  }
}

function finish(message) {
  if (state.ended) return;
  state.ended = true;
  setStatus(message);
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  // Closing a moment later lets the agent's last words and events arrive.
  const pc = state.pc;
  setTimeout(() => { if (pc) pc.close(); }, 1500);
  $("call-button").disabled = false;
  $("hangup-button").disabled = true;
  $("call-button").focus();
}

async function hangUp() {
  if (state.channel && state.channel.readyState === "open") state.channel.send(JSON.stringify({ type: "hangup" }));
  else if (state.pcId) fetch(`/api/calls/${state.pcId}`, { method: "DELETE" }).catch(() => {});
  finish("已挂断");
}

/** Inbound agent audio so far (the browser test reads it): packets and energy from getStats(). */
async function agentAudioStats() {
  const out = { packetsReceived: 0, totalAudioEnergy: 0, bytesReceived: 0 };
  if (!state.pc) return out;
  (await state.pc.getStats()).forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      out.packetsReceived += report.packetsReceived || 0;
      out.totalAudioEnergy += report.totalAudioEnergy || 0;
      out.bytesReceived += report.bytesReceived || 0;
    }
  });
  return out;
}
window.agentAudioStats = agentAudioStats;

$("call-button").addEventListener("click", startCall);
$("hangup-button").addEventListener("click", hangUp);
for (const radio of document.querySelectorAll('input[name="flow"]')) radio.addEventListener("change", showCallOptions);
showCallOptions();
