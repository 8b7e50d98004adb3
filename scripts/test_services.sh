#!/usr/bin/env bash
# Test services: a PulseAudio daemon with a null sink (real PortAudio device for audio tests)
# and an Xvfb display (real X windows for screenshots). Sourced by bootstrap.sh.
# One folder per run: its own PulseAudio runtime dir, so parallel runs never stop each other's daemon.
TS_DIR=${TS_DIR:-$(mktemp -d /tmp/triergon-test-services.XXXXXX)}

start_test_services() {
  mkdir -p "$TS_DIR"
  export XDG_RUNTIME_DIR="$TS_DIR/xdg"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  export PULSE_RUNTIME_PATH="$XDG_RUNTIME_DIR/pulse"
  if command -v pulseaudio >/dev/null; then
    pulseaudio --kill >/dev/null 2>&1 || true
    pulseaudio -D --exit-idle-time=-1 --disallow-exit -n \
      --load="module-native-protocol-unix" \
      --load="module-null-sink sink_name=triergon_null rate=48000 channels=2 sink_properties=device.description=TriErgonNull" \
      --load="module-always-sink" >"$TS_DIR/pulse.log" 2>&1 || echo "[test] PulseAudio failed to start (see $TS_DIR/pulse.log)" >&2
    for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
    pactl set-default-sink triergon_null >/dev/null 2>&1 || true
    export TRIERGON_TEST_PULSE=1
  fi
  if command -v Xvfb >/dev/null; then
    # -displayfd: Xvfb picks a free display number and writes it, so parallel runs never collide.
    Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$TS_DIR/display" >"$TS_DIR/xvfb.log" 2>&1 &
    echo $! >"$TS_DIR/xvfb.pid"
    for _ in $(seq 50); do [ -s "$TS_DIR/display" ] && break; sleep 0.1; done
    export TRIERGON_TEST_DISPLAY=":$(head -n1 "$TS_DIR/display")"
  fi
}

stop_test_services() {
  pulseaudio --kill >/dev/null 2>&1 || true
  if [ -f "$TS_DIR/xvfb.pid" ]; then kill "$(cat "$TS_DIR/xvfb.pid")" 2>/dev/null || true; rm -f "$TS_DIR/xvfb.pid"; fi
}
