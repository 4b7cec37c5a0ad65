# test/xen/dom0/idm.sh — the IDM channel's xen transport between pod VMs and
# vgpu-proxy in dom0 (run by test/xen/idm.test.ts inside the QEMU node).
#   a: ordering, wrap-around, bulk, threads; hostile ring records; lying offers
#   b: not marked for vGPU: refused
#   c: a bystander, then a call the proxy stalls on while the domain is destroyed
# and one shm guest (ring_client in dom0) on the same proxy.
. /mnt/job/lib.sh
t0=$(now_ms)
start_proxy || { result proxy-start fail "no handover socket"; cat /mnt/job/proxy.log; exit 1; }
timing proxy-start $(($(now_ms) - t0))

HOSTILE="hostile:arena-out-of-range,hostile:arena-too-long,hostile:unknown-op,hostile:short-payload,hostile:stall-too-long,hostile:foreign-handle,hostile:bad-length,hostile:length-past-tail,hostile:tail-beyond-ring,hostile:garbage,hostile:unread-answers"
LIES="xen-lie:foreign-ref,xen-lie:reserved-ref,xen-lie:duplicate-ref,xen-lie:readonly-ref,xen-lie:short-region,xen-lie:huge-region,xen-lie:bad-dir-ref,xen-lie:bad-port"
A_TESTS="order:200,wrap:3000,bulk:24,threads:4:100,$HOSTILE,$LIES,order:50"
pv_config idm-a 256 "xen_cri.agent=0 vgpu_test=$A_TESTS" >/tmp/a.cfg
pv_config idm-b 160 "xen_cri.agent=0 vgpu_test=order:1" >/tmp/b.cfg
pv_config idm-c 160 "xen_cri.agent=0 vgpu_test=bystander:30,stall:10000" >/tmp/c.cfg
for g in a b c; do
  ts=$(now_ms)
  xl create -p /tmp/$g.cfg >/dev/null || result "create-$g" fail
  [ $g = b ] || mark_vgpu idm-$g 0
  xl unpause idm-$g
  timing "xl-create-$g" $(($(now_ms) - ts))
done

# c: destroyed mid-call.
if wait_for 240 console_has idm-c "^calling"; then
  sleep 1
  d=$(domid_of idm-c)
  # The open channel's rendezvous keys: owned by that DomU, no access for others (Dom0 sees all).
  perms=$(xenstore-ls -p "/local/domain/$d/data/vgpu" 2>&1 | head -1)
  case "$perms" in *"(n$d)"*) result rendezvous-perms ok "$perms" ;; *) result rendezvous-perms fail "$perms" ;; esac
  # Only what the proxy logs from now on counts (the bystander's channel ended before).
  before=$(wc -l </mnt/job/proxy.log)
  ts=$(now_ms)
  xl destroy idm-c
  timing xl-destroy $(($(now_ms) - ts))
  new_lines="tail -n +$((before + 1)) /mnt/job/proxy.log | grep '\"domid\":$d'"
  if wait_for 30 sh -c "$new_lines | grep -q '\"reason\":\"guest_gone\".*everything it held is released'"; then
    result destroyed-mid-call-cleanup ok "$(sh -c "$new_lines" | grep -o '"reason":"guest_gone","served":[0-9]*' | tail -1)"
  else
    result destroyed-mid-call-cleanup fail "no release logged for domain $d: $(sh -c "$new_lines" | cut -c1-300)"
  fi
  timing destroy-to-release $(($(now_ms) - ts))
  # No zombie: Dom0 let go of every page, so the domain is gone, not "(null)".
  if wait_for 30 sh -c "! xl list | grep -qE '^(idm-c|\(null\)) '"; then result destroyed-no-zombie ok; else result destroyed-no-zombie fail "$(xl list)"; fi
  timing destroy-to-gone $(($(now_ms) - ts))
  grep -q "PASS bystander" $CONSOLE/guest-idm-c.log && result bystander ok "$(grep 'PASS bystander' $CONSOLE/guest-idm-c.log)" || result bystander fail
else
  result destroyed-mid-call-cleanup fail "guest c never called"
fi

# The shm guest on the same proxy meanwhile: the same serve loop, another transport.
ts=$(now_ms)
out=$(VGPU_TRANSPORT=shm VGPU_PROXY_SOCKET=/run/vgpu/proxy.sock VGPU_CONNECT_TIMEOUT_MS=60000 "$APP/build/vgpu-tests/ring_client" order 100 2>&1)
case "$out" in PASS*) result shm-guest ok "$out" ;; *) result shm-guest fail "$out" ;; esac
timing shm-order-100 $(($(now_ms) - ts))

wait_for 600 console_has idm-a GUEST-TESTS-DONE || result guest-a-done fail "timeout"
timing guest-a-all $(($(now_ms) - t0))
wait_for 60 console_has idm-b GUEST-TESTS-DONE || result guest-b-done fail "timeout"
grep -q 'not_allowed' $CONSOLE/guest-idm-b.log && result unmarked-refused ok "$(grep -o 'refused[^"]*' $CONSOLE/guest-idm-b.log | head -1)" || result unmarked-refused fail

# Each guest test's result, as the guest printed it.
tr -d '\r' <$CONSOLE/guest-idm-a.log | sed -n 's/^\(PASS\|FAIL\) \(.*\)$/GUEST \1 \2/p'
echo "PROXY-LOG-BEGIN"
grep -E '"(msg)":"(guest connected|guest disconnected[^"]*|guest refused at hand-over|guest broke the channel protocol[^"]*|xen[^"]*)"' /mnt/job/proxy.log | cut -c1-400 | tail -80
echo "PROXY-LOG-END"
kill $PROXY_PID 2>/dev/null
xl list
