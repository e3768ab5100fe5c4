-- Renga's Wireshark plugin: `renga capture --wireshark-plugin > ~/.local/lib/wireshark/plugins/renga.lua`
-- (or run tshark/wireshark with `-X lua_script:renga.lua`).
--
-- What it does:
--   * hands Renga's TCP ports (devnet 28333, regtest 18444, mainnet 8333, and
--     38333, 38335, ... 38459, where `renga devnet` puts its nodes) to
--     Wireshark's built-in "bitcoin" dissector, whose own heuristic does not
--     know devnet's magic;
--   * decodes Renga's link-compression messages, which the built-in dissector
--     does not know: sendcmpr (codecs offered, smallest payload worth
--     compressing) and cmpr (inner command, declared uncompressed length,
--     codec, compressed bytes);
--   * decodes BIP144 witness transactions, alone or in blocks, which the
--     built-in dissector (older than segwit) misreads without a warning;
--   * decodes the messages of later BIPs that the built-in dissector lacks
--     (sendheaders, wtxidrelay, sendaddrv2, feefilter, sendcmpct, addrv2,
--     cmpctblock, getblocktxn, blocktxn) at least to their counts and hashes,
--     so a Renga capture shows no "unknown command";
--   * decodes the LAN discovery datagram on UDP 28334 (and, by heuristic, on
--     any UDP port): length, "rnga", version, flags, magic, genesis, instance,
--     TCP port, services, height and the optional HMAC.
--
-- Every payload a Bitcoin frame carries reaches these dissectors whole (the
-- built-in dissector reassembles frames over TCP). Short or inconsistent
-- payloads are flagged with the expert info renga.malformed instead of raising
-- a Lua error.

local bitcoin = Dissector.get("bitcoin")
local tcp_ports = { 28333, 18444, 8333 }
for port = 38333, 38459, 2 do -- renga devnet's nodes (--base-port 38333, up to 64)
  tcp_ports[#tcp_ports + 1] = port
end
local discovery_port = 28334

local codec_names = { [1] = "zstd", [2] = "s2" }
local inv_types = {
  [0] = "ERROR", [1] = "MSG_TX", [2] = "MSG_BLOCK", [3] = "MSG_FILTERED_BLOCK",
  [4] = "MSG_CMPCT_BLOCK", [5] = "MSG_WTX",
  [0x40000001] = "MSG_WITNESS_TX", [0x40000002] = "MSG_WITNESS_BLOCK",
}

-- Reads a CompactSize integer at off; returns value (a Lua number, exact up to
-- 2^53, which covers every count and length a valid message can carry) and
-- its size in bytes, or nil when the bytes run out.
local function varint(tvb, off)
  if off >= tvb:len() then return nil end
  local first = tvb(off, 1):uint()
  local size = ({ [0xfd] = 3, [0xfe] = 5, [0xff] = 9 })[first] or 1
  if off + size > tvb:len() then return nil end
  if size == 1 then return first, 1 end
  if size == 9 then return tvb(off + 1, 8):le_uint64():tonumber(), 9 end
  return tvb(off + 1, size - 1):le_uint(), size
end

-- One expert field for every protocol below: the payload does not hold what
-- its fields say.
local function malformed_expert(abbrev)
  return ProtoExpert.new(abbrev .. ".malformed", "Malformed Renga payload", expert.group.MALFORMED, expert.severity.ERROR)
end

-- sendcmpr: varint count | codec bytes | min size uint32
local sendcmpr = Proto("renga.sendcmpr", "Renga link-compression offer (sendcmpr)")
local sc = {
  count = ProtoField.uint32("renga.sendcmpr.count", "Codec count", base.DEC),
  codec = ProtoField.uint8("renga.sendcmpr.codec", "Codec", base.DEC, codec_names),
  min_size = ProtoField.uint32("renga.sendcmpr.min_size", "Smallest payload worth compressing", base.DEC),
}
sendcmpr.fields = { sc.count, sc.codec, sc.min_size }
local sc_bad = malformed_expert("renga.sendcmpr")
sendcmpr.experts = { sc_bad }

function sendcmpr.dissector(tvb, pinfo, tree)
  local t = tree:add(sendcmpr, tvb())
  local n, size = varint(tvb, 0)
  if not n or size + n + 4 ~= tvb:len() then
    t:add_proto_expert_info(sc_bad, "sendcmpr payload of " .. tvb:len() .. " bytes does not fit its codec count")
    return tvb:len()
  end
  t:add(sc.count, tvb(0, size), n)
  local names = {}
  for i = 0, n - 1 do
    local c = tvb(size + i, 1):uint()
    t:add(sc.codec, tvb(size + i, 1))
    names[#names + 1] = codec_names[c] or ("codec " .. c)
  end
  t:add_le(sc.min_size, tvb(size + n, 4))
  t:append_text(": " .. table.concat(names, ",") .. ", min " .. tvb(size + n, 4):le_uint())
  return tvb:len()
end

-- cmpr: inner command[12] | varint uncompressed length | codec byte | compressed bytes
local cmpr = Proto("renga.cmpr", "Renga compressed message (cmpr)")
local cf = {
  command = ProtoField.string("renga.cmpr.command", "Inner command"),
  length = ProtoField.uint32("renga.cmpr.length", "Uncompressed length", base.DEC),
  codec = ProtoField.uint8("renga.cmpr.codec", "Codec", base.DEC, codec_names),
  compressed_size = ProtoField.uint32("renga.cmpr.compressed_size", "Compressed size", base.DEC),
  data = ProtoField.bytes("renga.cmpr.data", "Compressed payload"),
}
cmpr.fields = { cf.command, cf.length, cf.codec, cf.compressed_size, cf.data }
local cm_bad = malformed_expert("renga.cmpr")
cmpr.experts = { cm_bad }

function cmpr.dissector(tvb, pinfo, tree)
  local t = tree:add(cmpr, tvb())
  if tvb:len() < 12 + 1 + 1 then
    t:add_proto_expert_info(cm_bad, "cmpr payload of " .. tvb:len() .. " bytes is shorter than its envelope")
    return tvb:len()
  end
  local inner = tvb(0, 12):stringz()
  t:add(cf.command, tvb(0, 12), inner)
  local length, size = varint(tvb, 12)
  if not length or 12 + size + 1 > tvb:len() then
    t:add_proto_expert_info(cm_bad, "cmpr length or codec missing")
    return tvb:len()
  end
  t:add(cf.length, tvb(12, size), length)
  local off = 12 + size
  t:add(cf.codec, tvb(off, 1))
  local codec = tvb(off, 1):uint()
  off = off + 1
  local compressed = tvb:len() - off
  t:add(cf.compressed_size, compressed):set_generated()
  if compressed > 0 then
    t:add(cf.data, tvb(off, compressed))
  end
  if length > 4000000 then
    t:add_proto_expert_info(cm_bad, "declared length over the 4,000,000-byte message limit")
  end
  t:append_text(string.format(": %s %d → %d bytes, %s", inner, length, compressed, codec_names[codec] or ("codec " .. codec)))
  pinfo.cols.info:append("(" .. inner .. ")")
  return tvb:len()
end

-- Messages of later BIPs, decoded to their outline.
local bips = Proto("renga.bips", "Bitcoin messages after BIP 61 (Renga plugin)")
local bf = {
  feerate = ProtoField.uint64("renga.bips.feefilter.feerate", "Fee rate (sat/kvB)", base.DEC),
  announce = ProtoField.bool("renga.bips.sendcmpct.announce", "High-bandwidth announce"),
  cmpct_version = ProtoField.uint64("renga.bips.sendcmpct.version", "Compact block version", base.DEC),
  count = ProtoField.uint32("renga.bips.count", "Count", base.DEC),
  block_hash = ProtoField.bytes("renga.bips.block_hash", "Block hash"),
  header = ProtoField.bytes("renga.bips.header", "Block header"),
  nonce = ProtoField.uint64("renga.bips.nonce", "Short-id nonce", base.HEX),
  empty = ProtoField.none("renga.bips.empty", "Empty message"),
}
bips.fields = { bf.feerate, bf.announce, bf.cmpct_version, bf.count, bf.block_hash, bf.header, bf.nonce, bf.empty }
local bips_bad = malformed_expert("renga.bips")
bips.experts = { bips_bad }

local function empty_dissector(name)
  local p = Proto("renga." .. name, name .. " (no payload)")
  function p.dissector(tvb, pinfo, tree)
    local t = tree:add(bips, tvb(), name)
    if tvb:len() ~= 0 then
      t:add_proto_expert_info(bips_bad, name .. " carries " .. tvb:len() .. " bytes, expected none")
    end
    return tvb:len()
  end
  return p
end

local function outline_dissector(name, f)
  local p = Proto("renga." .. name, name)
  function p.dissector(tvb, pinfo, tree)
    local t = tree:add(bips, tvb(), name)
    local ok = f(tvb, t)
    if not ok then
      t:add_proto_expert_info(bips_bad, name .. " payload of " .. tvb:len() .. " bytes is inconsistent")
    end
    return tvb:len()
  end
  return p
end

local commands = DissectorTable.get("bitcoin.command")
for _, name in ipairs({ "sendheaders", "wtxidrelay", "sendaddrv2" }) do
  commands:add(name, empty_dissector(name))
end
commands:add("feefilter", outline_dissector("feefilter", function(tvb, t)
  if tvb:len() ~= 8 then return false end
  t:add_le(bf.feerate, tvb(0, 8))
  return true
end))
commands:add("sendcmpct", outline_dissector("sendcmpct", function(tvb, t)
  if tvb:len() ~= 9 then return false end
  t:add(bf.announce, tvb(0, 1))
  t:add_le(bf.cmpct_version, tvb(1, 8))
  return true
end))
commands:add("addrv2", outline_dissector("addrv2", function(tvb, t)
  local n, size = varint(tvb, 0)
  if not n then return false end
  t:add(bf.count, tvb(0, size), n)
  return true
end))
commands:add("cmpctblock", outline_dissector("cmpctblock", function(tvb, t)
  if tvb:len() < 80 + 8 + 1 then return false end
  t:add(bf.header, tvb(0, 80))
  t:add_le(bf.nonce, tvb(80, 8))
  local n, size = varint(tvb, 88)
  if not n then return false end
  t:add(bf.count, tvb(88, size), n)
  return true
end))
for _, name in ipairs({ "getblocktxn", "blocktxn" }) do
  commands:add(name, outline_dissector(name, function(tvb, t)
    if tvb:len() < 33 then return false end
    t:add(bf.block_hash, tvb(0, 32))
    local n, size = varint(tvb, 32)
    if not n then return false end
    t:add(bf.count, tvb(32, size), n)
    return true
  end))
end
commands:add("sendcmpr", sendcmpr)
commands:add("cmpr", cmpr)

-- BIP144 witness transactions. The built-in dissector predates segwit and
-- reads the marker byte as an empty input list, showing garbage without a
-- warning. A tx whose marker and flag are 00 01, and a block holding any such
-- tx, are decoded here; everything else still goes to the built-in dissector.
local wtx = Proto("renga.tx", "Bitcoin transaction (BIP144 witness serialization)")
local wf = {
  version = ProtoField.int32("renga.tx.version", "Version", base.DEC),
  flag = ProtoField.uint16("renga.tx.flag", "Marker and flag", base.HEX),
  in_count = ProtoField.uint32("renga.tx.in_count", "Input count", base.DEC),
  input = ProtoField.none("renga.tx.in", "Input"),
  prev_hash = ProtoField.bytes("renga.tx.in.prev_hash", "Previous output hash"),
  prev_index = ProtoField.uint32("renga.tx.in.prev_index", "Previous output index", base.DEC),
  script_sig = ProtoField.bytes("renga.tx.in.script", "Signature script"),
  sequence = ProtoField.uint32("renga.tx.in.sequence", "Sequence", base.HEX),
  out_count = ProtoField.uint32("renga.tx.out_count", "Output count", base.DEC),
  output = ProtoField.none("renga.tx.out", "Output"),
  value = ProtoField.int64("renga.tx.out.value", "Value (satoshis)", base.DEC),
  script_pubkey = ProtoField.bytes("renga.tx.out.script", "Public key script"),
  witness = ProtoField.uint32("renga.tx.witness.count", "Witness items", base.DEC),
  item = ProtoField.bytes("renga.tx.witness.item", "Witness item"),
  lock_time = ProtoField.uint32("renga.tx.lock_time", "Lock time", base.DEC),
  block = ProtoField.none("renga.block", "Block"),
  block_version = ProtoField.int32("renga.block.version", "Version", base.DEC),
  block_prev = ProtoField.bytes("renga.block.prev_block", "Previous block"),
  block_merkle = ProtoField.bytes("renga.block.merkle_root", "Merkle root"),
  block_time = ProtoField.absolute_time("renga.block.time", "Time", base.UTC),
  block_bits = ProtoField.uint32("renga.block.bits", "Bits", base.HEX),
  block_nonce = ProtoField.uint32("renga.block.nonce", "Nonce", base.HEX),
  tx_count = ProtoField.uint32("renga.block.tx_count", "Transactions", base.DEC),
}
wtx.fields = { wf.version, wf.flag, wf.in_count, wf.input, wf.prev_hash, wf.prev_index, wf.script_sig, wf.sequence,
  wf.out_count, wf.output, wf.value, wf.script_pubkey, wf.witness, wf.item, wf.lock_time,
  wf.block, wf.block_version, wf.block_prev, wf.block_merkle, wf.block_time, wf.block_bits, wf.block_nonce, wf.tx_count }
local tx_bad = malformed_expert("renga.tx")
wtx.experts = { tx_bad }

local function has_witness_marker(tvb, off)
  return off + 6 <= tvb:len() and tvb(off + 4, 1):uint() == 0 and tvb(off + 5, 1):uint() == 1
end

-- walk_tx reads one transaction at off. With a tree it adds the fields; with
-- nil it only measures. It returns the offset after the transaction and
-- whether it had a witness, or nil and a reason when the bytes run out.
local function walk_tx(tvb, off, tree)
  local len = tvb:len()
  local function take(n)
    if off + n > len then return nil end
    local at = off
    off = off + n
    return at
  end
  local function count()
    local v, size = varint(tvb, off)
    if not v then return nil end
    local at = off
    off = off + size
    return v, at, size
  end
  local t
  if tree then t = tree:add(wtx, tvb(off, 0)) end
  local start = off
  local at = take(4)
  if not at then return nil, "version" end
  if t then t:add_le(wf.version, tvb(at, 4)) end
  local segwit = has_witness_marker(tvb, start)
  if segwit then
    at = take(2)
    if t then t:add(wf.flag, tvb(at, 2)) end
  end
  local n_in, cat, csize = count()
  if not n_in then return nil, "input count" end
  if t then t:add(wf.in_count, tvb(cat, csize), n_in) end
  for _ = 1, n_in do
    local istart = off
    if not take(36) then return nil, "input" end
    local slen, sat, ssize = count()
    if not slen or not take(slen) or not take(4) then return nil, "input script" end
    if t then
      local it = t:add(wf.input, tvb(istart, off - istart))
      it:add(wf.prev_hash, tvb(istart, 32))
      it:add_le(wf.prev_index, tvb(istart + 32, 4))
      it:add(wf.script_sig, tvb(sat + ssize, slen))
      it:add_le(wf.sequence, tvb(off - 4, 4))
    end
  end
  local n_out, oat, osize = count()
  if not n_out then return nil, "output count" end
  if t then t:add(wf.out_count, tvb(oat, osize), n_out) end
  for _ = 1, n_out do
    local ostart = off
    if not take(8) then return nil, "output value" end
    local slen, sat, ssize = count()
    if not slen or not take(slen) then return nil, "output script" end
    if t then
      local ot = t:add(wf.output, tvb(ostart, off - ostart))
      ot:add_le(wf.value, tvb(ostart, 8))
      ot:add(wf.script_pubkey, tvb(sat + ssize, slen))
    end
  end
  if segwit then
    for _ = 1, n_in do
      local n_items, wat, wsize = count()
      if not n_items then return nil, "witness count" end
      local wt
      if t then wt = t:add(wf.witness, tvb(wat, wsize), n_items) end
      for _ = 1, n_items do
        local ilen, iat, isize = count()
        if not ilen or not take(ilen) then return nil, "witness item" end
        if wt then wt:add(wf.item, tvb(iat + isize, ilen)) end
      end
    end
  end
  at = take(4)
  if not at then return nil, "lock time" end
  if t then
    t:add_le(wf.lock_time, tvb(at, 4))
    t:set_len(off - start)
  end
  return off, segwit
end

local builtin_tx = commands:get_dissector("tx")
local builtin_block = commands:get_dissector("block")

local tx_proto = Proto("renga.txmsg", "tx (witness-aware)")
function tx_proto.dissector(tvb, pinfo, tree)
  if not has_witness_marker(tvb, 0) then
    return builtin_tx:call(tvb, pinfo, tree)
  end
  local off, why = walk_tx(tvb, 0, tree)
  if not off then
    tree:add_proto_expert_info(tx_bad, "witness transaction cut short in its " .. why)
  elseif off ~= tvb:len() then
    tree:add_proto_expert_info(tx_bad, (tvb:len() - off) .. " bytes after the transaction")
  end
  return tvb:len()
end

local block_proto = Proto("renga.blockmsg", "block (witness-aware)")
function block_proto.dissector(tvb, pinfo, tree)
  -- Measure first: a block without witness transactions is the built-in
  -- dissector's.
  local n, size = varint(tvb, 80)
  local any_witness = false
  if n then
    local off = 80 + size
    for _ = 1, n do
      local next_off, segwit = walk_tx(tvb, off, nil)
      if not next_off then break end
      any_witness = any_witness or segwit
      off = next_off
    end
  end
  if not any_witness then
    return builtin_block:call(tvb, pinfo, tree)
  end
  local b = tree:add(wf.block, tvb())
  b:add_le(wf.block_version, tvb(0, 4))
  b:add(wf.block_prev, tvb(4, 32))
  b:add(wf.block_merkle, tvb(36, 32))
  b:add_le(wf.block_time, tvb(68, 4))
  b:add_le(wf.block_bits, tvb(72, 4))
  b:add_le(wf.block_nonce, tvb(76, 4))
  b:add(wf.tx_count, tvb(80, size), n)
  local off = 80 + size
  for i = 1, n do
    local next_off, why = walk_tx(tvb, off, b)
    if not next_off then
      b:add_proto_expert_info(tx_bad, "transaction " .. i .. " cut short in its " .. why)
      return tvb:len()
    end
    off = next_off
  end
  if off ~= tvb:len() then
    b:add_proto_expert_info(tx_bad, (tvb:len() - off) .. " bytes after the last transaction")
  end
  return tvb:len()
end
commands:add("tx", tx_proto)
commands:add("block", block_proto)

local tcp_table = DissectorTable.get("tcp.port")
for _, port in ipairs(tcp_ports) do
  tcp_table:add(port, bitcoin)
end

-- The LAN discovery datagram (wire/beacon.go), format version 2, integers
-- little-endian: length[2] "rnga" version[1] flags[1] magic[4] genesis[32]
-- instance[8] port[2] services[8] height[4] time[8] (Unix ms) sequence[8]
-- [hmac[32]]. The HMAC covers everything before it, time and sequence
-- included (they let a receiver refuse a replayed beacon).
local beacon_size, beacon_signed_size = 82, 114
local beacon = Proto("renga.beacon", "Renga LAN discovery beacon")
local bc = {
  length = ProtoField.uint16("renga.beacon.length", "Length", base.DEC),
  id = ProtoField.string("renga.beacon.id", "Identifier"),
  version = ProtoField.uint8("renga.beacon.version", "Format version", base.DEC),
  flags = ProtoField.uint8("renga.beacon.flags", "Flags", base.HEX),
  query = ProtoField.bool("renga.beacon.flags.query", "Query (asks others to answer)", 8, nil, 0x01),
  signed = ProtoField.bool("renga.beacon.flags.hmac", "HMAC present", 8, nil, 0x02),
  magic = ProtoField.uint32("renga.beacon.magic", "Network magic", base.HEX),
  genesis = ProtoField.bytes("renga.beacon.genesis", "Genesis block hash"),
  instance = ProtoField.uint64("renga.beacon.instance", "Instance id", base.HEX),
  port = ProtoField.uint16("renga.beacon.port", "TCP port", base.DEC),
  services = ProtoField.uint64("renga.beacon.services", "Services", base.HEX),
  height = ProtoField.int32("renga.beacon.height", "Best height", base.DEC),
  time = ProtoField.absolute_time("renga.beacon.time", "Time sent", base.UTC),
  sequence = ProtoField.uint64("renga.beacon.sequence", "Sequence number", base.DEC),
  hmac = ProtoField.bytes("renga.beacon.hmac", "HMAC-SHA256"),
}
beacon.fields = { bc.length, bc.id, bc.version, bc.flags, bc.query, bc.signed, bc.magic, bc.genesis,
  bc.instance, bc.port, bc.services, bc.height, bc.time, bc.sequence, bc.hmac }
local bc_bad = malformed_expert("renga.beacon")
beacon.experts = { bc_bad }

local function is_beacon(tvb)
  return tvb:len() >= 6 and tvb(2, 4):string() == "rnga"
end

-- beacon_time turns the 8-byte Unix millisecond count at off into an NSTime.
local function beacon_time(tvb, off)
  local ms = tvb(off, 8):le_int64():tonumber() -- exact below 2^53 ms (year 287,000)
  local secs = math.floor(ms / 1000)
  return NSTime.new(secs, (ms - secs * 1000) * 1000000)
end

function beacon.dissector(tvb, pinfo, tree)
  if not is_beacon(tvb) then return 0 end
  pinfo.cols.protocol = "Renga"
  local t = tree:add(beacon, tvb())
  t:add_le(bc.length, tvb(0, 2))
  t:add(bc.id, tvb(2, 4))
  local declared = tvb(0, 2):le_uint()
  if tvb:len() < 7 or declared ~= tvb:len() - 2 then
    t:add_proto_expert_info(bc_bad, string.format("beacon of %d bytes declares %d after its length", tvb:len(), declared))
    pinfo.cols.info = "Renga beacon (malformed)"
    return tvb:len()
  end
  t:add(bc.version, tvb(6, 1))
  local version = tvb(6, 1):uint()
  if version ~= 2 or tvb:len() < beacon_size then
    t:add_proto_expert_info(bc_bad, string.format("beacon format version %d of %d bytes (this dissector reads version 2, %d or %d bytes)",
      version, tvb:len(), beacon_size, beacon_signed_size))
    pinfo.cols.info = string.format("Renga beacon (malformed: version %d)", version)
    return tvb:len()
  end
  local flags = tvb(7, 1):uint()
  local ft = t:add(bc.flags, tvb(7, 1))
  ft:add(bc.query, tvb(7, 1))
  ft:add(bc.signed, tvb(7, 1))
  t:add(bc.magic, tvb(8, 4))
  t:add(bc.genesis, tvb(12, 32))
  t:add_le(bc.instance, tvb(44, 8))
  t:add_le(bc.port, tvb(52, 2))
  t:add_le(bc.services, tvb(54, 8))
  t:add_le(bc.height, tvb(62, 4))
  t:add(bc.time, tvb(66, 8), beacon_time(tvb, 66))
  t:add_le(bc.sequence, tvb(74, 8))
  local want = beacon_size
  if bit.band(flags, 2) ~= 0 then want = beacon_signed_size end
  if tvb:len() ~= want then
    t:add_proto_expert_info(bc_bad, string.format("beacon of %d bytes, flags say %d", tvb:len(), want))
  elseif want == beacon_signed_size then
    t:add(bc.hmac, tvb(beacon_size, 32))
  end
  local info = string.format("Renga beacon port=%d height=%d instance=%s seq=%s", tvb(52, 2):le_uint(),
    tvb(62, 4):le_int(), tostring(tvb(44, 8):le_uint64():tohex()), tostring(tvb(74, 8):le_uint64()))
  if bit.band(flags, 1) ~= 0 then info = info .. " query" end
  if want == beacon_signed_size then info = info .. " signed" end
  pinfo.cols.info = info
  return tvb:len()
end

DissectorTable.get("udp.port"):add(discovery_port, beacon)
beacon:register_heuristic("udp", function(tvb, pinfo, tree)
  if not is_beacon(tvb) then return false end
  beacon.dissector(tvb, pinfo, tree)
  return true
end)
