-- Renga's Wireshark plugin: `renga capture --wireshark-plugin > ~/.local/lib/wireshark/plugins/renga.lua`
-- (or run tshark/wireshark with `-X lua_script:renga.lua`).
--
-- What it does:
--   * hands Renga's TCP ports (devnet 28333, regtest 18444, mainnet 8333, and
--     38333, 38335, ... 38459, where `renga devnet` puts its nodes) to
--     Wireshark's built-in "bitcoin" dissector, whose own heuristic does not
--     know devnet's magic; the ports are the preference renga.ports;
--   * on any other TCP port, recognises a stream by its network magic: the
--     preference renga.magics (hex in wire order, comma-separated) holds
--     devnet's, regtest's and mainnet's by default, so a devnet with a magic
--     of its own needs a preference, not a code change:
--     `tshark -o renga.magics:0badcafe,d5e1b6a7 ...`;
--   * verifies every frame's checksum (the first 4 bytes of SHA-256d of the
--     payload; the built-in dissector shows it "unverified") and flags a
--     mismatch as the expert error renga.checksum.bad; SHA-256 runs in Lua,
--     about 0.7 MB of payload per second with Lua 5.2, so the preference
--     renga.verify_checksums turns it off for very large captures;
--   * decodes Renga's link-compression messages, which the built-in dissector
--     does not know: sendcmpr (codecs offered, smallest payload worth
--     compressing) and cmpr (inner command, declared uncompressed length,
--     codec, compressed bytes; Lua cannot decompress, `renga decode` does);
--   * decodes BIP144 witness transactions, alone or in blocks, which the
--     built-in dissector (older than segwit) misreads without a warning;
--   * decodes BIP152's compact-block messages, which the built-in dissector
--     shows as unknown: sendcmpct (mode, version), cmpctblock (header,
--     short-id nonce, short ids, prefilled transactions with their indexes
--     resolved from the differential encoding), getblocktxn (indexes resolved
--     to absolute) and blocktxn (transactions);
--   * decodes the other messages of later BIPs that the built-in dissector
--     lacks (sendheaders, wtxidrelay, sendaddrv2, feefilter, addrv2) at least
--     to their counts, so a Renga capture shows no "unknown command";
--   * decodes the LAN discovery datagram on UDP 28334 (and, by heuristic, on
--     any UDP port): length, "rnga", version, flags, magic, genesis, instance,
--     TCP port, services, height and the optional HMAC.
--
-- Every payload a Bitcoin frame carries reaches these dissectors whole (the
-- built-in dissector reassembles frames over TCP). Short or inconsistent
-- payloads are flagged with an expert error (renga.*.malformed) instead of
-- raising a Lua error.

local bitcoin = Dissector.get("bitcoin")

local default_ports = { 28333, 18444, 8333 }
for port = 38333, 38459, 2 do -- renga devnet's nodes (--base-port 38333, up to 64)
  default_ports[#default_ports + 1] = port
end
local discovery_port = 28334
-- devnet, regtest, mainnet: package chain's networks (capture.KnownMagics).
local default_magics = "d5e1b6a7,fabfb5da,f9beb4d9"

-- The plugin's own protocol: its preferences, the magic heuristic and the
-- checksum verification of every frame.
local renga = Proto("renga", "Renga (Bitcoin frames: checksum, network magic)")
renga.prefs.ports = Pref.range("TCP ports", table.concat(default_ports, ","),
  "TCP ports whose streams are Bitcoin frames whatever their magic", 65535)
renga.prefs.magics = Pref.string("Network magics", default_magics,
  "Network magics (8 hex digits in wire order, comma-separated) that mark a Bitcoin stream on any TCP port")
renga.prefs.verify_checksums = Pref.bool("Verify checksums", true,
  "Compute every frame's SHA-256d checksum (in Lua: about 0.7 MB of payload per second)")

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

-- Other messages of later BIPs, decoded to their outline.
local bips = Proto("renga.bips", "Bitcoin messages after BIP 61 (Renga plugin)")
local bf = {
  feerate = ProtoField.uint64("renga.bips.feefilter.feerate", "Fee rate (sat/kvB)", base.DEC),
  count = ProtoField.uint32("renga.bips.count", "Count", base.DEC),
  empty = ProtoField.none("renga.bips.empty", "Empty message"),
}
bips.fields = { bf.feerate, bf.count, bf.empty }
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
commands:add("addrv2", outline_dissector("addrv2", function(tvb, t)
  local n, size = varint(tvb, 0)
  if not n then return false end
  t:add(bf.count, tvb(0, size), n)
  return true
end))
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

-- SHA-256 (FIPS 180-4) in Lua, for the frame checksums and block hashes.
-- Wireshark's Lua has no hash functions; Lua 5.2 has no integer operators,
-- so the words are numbers kept to 32 bits by the bit library (whose results
-- are signed: tobit after each sum).
local band, bxor, rshift, ror, tobit = bit.band, bit.bxor, bit.rshift, bit.ror, bit.tobit
local sbyte, schar = string.byte, string.char
local sha_k = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local sha_w = {}

-- sha_block runs the compression function over the 64 bytes of s at p.
local function sha_block(h, s, p)
  local w, k = sha_w, sha_k
  for j = 1, 16 do
    local b1, b2, b3, b4 = sbyte(s, p, p + 3)
    w[j] = b1 * 16777216 + b2 * 65536 + b3 * 256 + b4
    p = p + 4
  end
  for j = 17, 64 do
    local x, y = w[j - 15], w[j - 2]
    w[j] = tobit(w[j - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) + w[j - 7] +
      bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
  end
  local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
  for j = 1, 64 do
    local t1 = hh + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(g, band(e, bxor(f, g))) + k[j] + w[j]
    local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(c, bxor(a, b)))
    hh, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  h[1], h[2], h[3], h[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c), tobit(h[4] + d)
  h[5], h[6], h[7], h[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g), tobit(h[8] + hh)
end

local function be32(v)
  return schar(band(rshift(v, 24), 255), band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255))
end

-- sha256 returns the digest of the string s, 32 bytes.
local function sha256(s)
  local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local n = #s
  local full = n - n % 64
  for p = 1, full, 64 do sha_block(h, s, p) end
  local bits = n * 8 -- exact: a frame's payload is far below 2^50 bytes
  local tail = s:sub(full + 1) .. "\128" .. string.rep("\0", (55 - n % 64) % 64) ..
    be32(math.floor(bits / 4294967296)) .. be32(bits % 4294967296)
  for p = 1, #tail, 64 do sha_block(h, tail, p) end
  local out = {}
  for i = 1, 8 do out[i] = be32(h[i]) end
  return table.concat(out)
end

local function sha256d(s) return sha256(sha256(s)) end

-- hash_hex shows a hash (32 bytes in wire order) as Bitcoin prints it:
-- reversed, in hex.
local function hash_hex(s)
  return (s:reverse():gsub(".", function(c) return string.format("%02x", sbyte(c)) end))
end

-- BIP152 compact blocks (version 1 and 2; version 2 prefills witness
-- transactions). Indexes travel differentially: each is the gap since the
-- previous one plus one; they are shown resolved to absolute positions.
local bip152 = Proto("renga.bip152", "BIP152 compact block message (Renga plugin)")
local cb = {
  announce = ProtoField.bool("renga.sendcmpct.announce", "High-bandwidth mode (new blocks pushed as cmpctblock)"),
  version = ProtoField.uint64("renga.sendcmpct.version", "Compact block version", base.DEC),
  header = ProtoField.none("renga.cmpctblock.header", "Block header"),
  hversion = ProtoField.int32("renga.cmpctblock.version", "Version", base.DEC),
  prev = ProtoField.bytes("renga.cmpctblock.prev_block", "Previous block"),
  merkle = ProtoField.bytes("renga.cmpctblock.merkle_root", "Merkle root"),
  time = ProtoField.absolute_time("renga.cmpctblock.time", "Time", base.UTC),
  bits = ProtoField.uint32("renga.cmpctblock.bits", "Bits", base.HEX),
  hnonce = ProtoField.uint32("renga.cmpctblock.header_nonce", "Nonce", base.HEX),
  hash = ProtoField.string("renga.cmpctblock.block_hash", "Block hash"),
  nonce = ProtoField.uint64("renga.cmpctblock.nonce", "Short-id nonce", base.HEX),
  shortid_count = ProtoField.uint32("renga.cmpctblock.shortid_count", "Short ids", base.DEC),
  shortid = ProtoField.bytes("renga.cmpctblock.shortid", "Short id"),
  prefilled_count = ProtoField.uint32("renga.cmpctblock.prefilled_count", "Prefilled transactions", base.DEC),
  prefilled = ProtoField.none("renga.cmpctblock.prefilled", "Prefilled transaction"),
  prefilled_index = ProtoField.uint32("renga.cmpctblock.prefilled.index", "Index in the block", base.DEC),
  tx_count = ProtoField.uint32("renga.cmpctblock.tx_count", "Transactions in the block", base.DEC),
  gbt_hash = ProtoField.string("renga.getblocktxn.block_hash", "Block hash"),
  gbt_count = ProtoField.uint32("renga.getblocktxn.count", "Indexes", base.DEC),
  gbt_index = ProtoField.uint32("renga.getblocktxn.index", "Index", base.DEC),
  bt_hash = ProtoField.string("renga.blocktxn.block_hash", "Block hash"),
  bt_count = ProtoField.uint32("renga.blocktxn.count", "Transactions", base.DEC),
}
bip152.fields = { cb.announce, cb.version, cb.header, cb.hversion, cb.prev, cb.merkle, cb.time, cb.bits,
  cb.hnonce, cb.hash, cb.nonce, cb.shortid_count, cb.shortid, cb.prefilled_count, cb.prefilled,
  cb.prefilled_index, cb.tx_count, cb.gbt_hash, cb.gbt_count, cb.gbt_index, cb.bt_hash, cb.bt_count }
local bip152_bad = malformed_expert("renga.bip152")
bip152.experts = { bip152_bad }

-- The most transactions a compact block may describe (Core: uint16 indexes).
local max_compact_index = 65535

local function bip152_dissector(name, f)
  local p = Proto("renga." .. name, name .. " (BIP152)")
  function p.dissector(tvb, pinfo, tree)
    local t = tree:add(bip152, tvb(), name)
    local why = f(tvb, pinfo, t)
    if why then
      t:add_proto_expert_info(bip152_bad, name .. " payload of " .. tvb:len() .. " bytes: " .. why)
    end
    return tvb:len()
  end
  return p
end

commands:add("sendcmpct", bip152_dissector("sendcmpct", function(tvb, pinfo, t)
  if tvb:len() ~= 9 then return "expected 9 bytes" end
  local announce = tvb(0, 1):uint()
  t:add(cb.announce, tvb(0, 1))
  t:add_le(cb.version, tvb(1, 8))
  local mode = announce == 1 and "high-bandwidth" or "low-bandwidth"
  t:append_text(string.format(": %s, version %s", mode, tostring(tvb(1, 8):le_uint64())))
  pinfo.cols.info:append("(" .. mode .. ")")
  if announce > 1 then return "announce is neither 0 nor 1" end
end))

commands:add("cmpctblock", bip152_dissector("cmpctblock", function(tvb, pinfo, t)
  if tvb:len() < 80 + 8 + 1 then return "shorter than a header, nonce and count" end
  local ht = t:add(cb.header, tvb(0, 80))
  ht:add_le(cb.hversion, tvb(0, 4))
  ht:add(cb.prev, tvb(4, 32))
  ht:add(cb.merkle, tvb(36, 32))
  ht:add_le(cb.time, tvb(68, 4))
  ht:add_le(cb.bits, tvb(72, 4))
  ht:add_le(cb.hnonce, tvb(76, 4))
  local hash = hash_hex(sha256d(tvb:raw(0, 80)))
  t:add(cb.hash, tvb(0, 80), hash):set_generated()
  t:add_le(cb.nonce, tvb(80, 8))
  local off = 88
  local n_short, size = varint(tvb, off)
  if not n_short then return "short-id count cut short" end
  t:add(cb.shortid_count, tvb(off, size), n_short)
  off = off + size
  if n_short > max_compact_index or off + 6 * n_short > tvb:len() then
    return n_short .. " short ids do not fit"
  end
  if n_short > 0 then
    local st = t:add(bip152, tvb(off, 6 * n_short), "Short ids (" .. n_short .. ")")
    for _ = 1, n_short do
      st:add(cb.shortid, tvb(off, 6))
      off = off + 6
    end
  end
  local n_pre
  n_pre, size = varint(tvb, off)
  if not n_pre then return "prefilled count cut short" end
  t:add(cb.prefilled_count, tvb(off, size), n_pre)
  off = off + size
  local total = n_short + n_pre
  t:add(cb.tx_count, total):set_generated()
  if total > max_compact_index then return total .. " transactions, over " .. max_compact_index end
  local shift, first = 0, {}
  for i = 1, n_pre do
    local start = off
    local diff, dsize = varint(tvb, off)
    if not diff then return "prefilled transaction " .. i .. " cut short in its index" end
    local index = shift + diff
    if index > max_compact_index then return "prefilled index overflows 16 bits" end
    shift = index + 1
    local pt = t:add(cb.prefilled, tvb(start, dsize))
    pt:add(cb.prefilled_index, tvb(start, dsize), index):append_text(string.format(" (differential %d)", diff))
    off = off + dsize
    local after, why = walk_tx(tvb, off, pt)
    if not after then return "prefilled transaction " .. i .. " cut short in its " .. why end
    pt:set_len(after - start)
    pt:append_text(string.format(" %d", index))
    off = after
    if index >= total then return "prefilled index " .. index .. " past the block's " .. total .. " transactions" end
    if i <= 8 then first[#first + 1] = index end
  end
  if off ~= tvb:len() then return (tvb:len() - off) .. " bytes after the last prefilled transaction" end
  t:append_text(string.format(": %s, %d short ids, %d prefilled", hash, n_short, n_pre))
  pinfo.cols.info:append(string.format("(%d shortids, %d prefilled)", n_short, n_pre))
end))

commands:add("getblocktxn", bip152_dissector("getblocktxn", function(tvb, pinfo, t)
  if tvb:len() < 33 then return "shorter than a hash and a count" end
  local hash = hash_hex(tvb:raw(0, 32))
  t:add(cb.gbt_hash, tvb(0, 32), hash)
  local n, size = varint(tvb, 32)
  if not n then return "index count cut short" end
  t:add(cb.gbt_count, tvb(32, size), n)
  local off = 32 + size
  if n > max_compact_index + 1 or off + n > tvb:len() then return n .. " indexes do not fit" end
  local shift = 0
  for i = 1, n do
    local diff, dsize = varint(tvb, off)
    if not diff then return "index " .. i .. " cut short" end
    local index = shift + diff
    if index > max_compact_index then return "index " .. i .. " overflows 16 bits" end
    shift = index + 1
    t:add(cb.gbt_index, tvb(off, dsize), index):append_text(string.format(" (differential %d)", diff))
    off = off + dsize
  end
  if off ~= tvb:len() then return (tvb:len() - off) .. " bytes after the last index" end
  t:append_text(string.format(": %s, %d indexes", hash, n))
  pinfo.cols.info:append(string.format("(%d indexes)", n))
end))

commands:add("blocktxn", bip152_dissector("blocktxn", function(tvb, pinfo, t)
  if tvb:len() < 33 then return "shorter than a hash and a count" end
  local hash = hash_hex(tvb:raw(0, 32))
  t:add(cb.bt_hash, tvb(0, 32), hash)
  local n, size = varint(tvb, 32)
  if not n then return "transaction count cut short" end
  t:add(cb.bt_count, tvb(32, size), n)
  local off = 32 + size
  if off + n * 10 > tvb:len() then return n .. " transactions do not fit" end
  for i = 1, n do
    local after, why = walk_tx(tvb, off, t)
    if not after then return "transaction " .. i .. " cut short in its " .. why end
    off = after
  end
  if off ~= tvb:len() then return (tvb:len() - off) .. " bytes after the last transaction" end
  t:append_text(string.format(": %s, %d transactions", hash, n))
  pinfo.cols.info:append(string.format("(%d txs)", n))
end))

-- Every frame's checksum, verified after the built-in dissector has cut the
-- stream into frames: its "bitcoin" item spans one whole frame (header and
-- payload) in the reassembled bytes.
local f_frame = Field.new("bitcoin")
local rf = {
  computed = ProtoField.uint32("renga.checksum.computed", "Checksum of the payload", base.HEX),
  status = ProtoField.uint8("renga.checksum.status", "Checksum status", base.DEC, { [0] = "Bad", [1] = "Good" }),
}
renga.fields = { rf.computed, rf.status }
local checksum_bad = ProtoExpert.new("renga.checksum.bad", "Bitcoin frame checksum mismatch",
  expert.group.CHECKSUM, expert.severity.ERROR)
renga.experts = { checksum_bad }

-- Checksums computed, by frame number and position in the packet: the GUI
-- dissects a packet again each time it is shown, and a block's SHA-256 in
-- Lua takes a while.
local computed = {}
function renga.init() computed = {} end

-- checksum returns the first 4 bytes of SHA-256d(payload) as a number.
local function checksum(payload)
  local b1, b2, b3, b4 = sbyte(sha256d(payload), 1, 4)
  return b1 * 16777216 + b2 * 65536 + b3 * 256 + b4
end

function renga.dissector(tvb, pinfo, tree)
  if not renga.prefs.verify_checksums then return end
  for i, fi in ipairs({ f_frame() }) do
    local r = fi.range
    if r and r:len() >= 24 then
      local length = r:range(16, 4):le_uint()
      -- A frame cut short (the capture's snap length) is the built-in
      -- dissector's to flag; its checksum cannot be checked.
      if r:len() == 24 + length then
        local key = pinfo.number * 4096 + i
        local sum = computed[key]
        if not sum then
          sum = checksum(length > 0 and r:range(24, length):raw() or "")
          computed[key] = sum
        end
        local field = r:range(20, 4)
        local want = field:uint()
        local t = tree:add(renga, r, "Renga frame check")
        t:add(rf.computed, field, sum):set_generated()
        if sum == want then
          t:add(rf.status, field, 1):set_generated()
          t:append_text(": checksum good")
        else
          t:add(rf.status, field, 0):set_generated()
          t:append_text(": checksum BAD")
          t:add_proto_expert_info(checksum_bad, string.format("%s frame checksum %08x, but its payload hashes to %08x",
            r:range(4, 12):stringz(), want, sum))
        end
      end
    end
  end
end
register_postdissector(renga)

-- Streams on any TCP port that begin with one of the magics of the
-- preference renga.magics: a frame header (magic, a command in its
-- charset, NUL-padded) makes the conversation the built-in dissector's.
local magics = {}
local function parse_magics(list)
  magics = {}
  for word in list:gmatch("[^,%s]+") do
    local hex = word:gsub("^0[xX]", "")
    local v = #hex == 8 and tonumber(hex, 16)
    if v then magics[v] = true end
  end
end

local function looks_like_frame(tvb)
  if tvb:len() < 24 or not magics[tvb(0, 4):uint()] then return false end
  local nul = false
  for i = 4, 15 do
    local c = tvb(i, 1):uint()
    if nul then
      if c ~= 0 then return false end
    elseif c == 0 then
      if i == 4 then return false end
      nul = true
    elseif c < 0x20 or c > 0x7e then
      return false
    end
  end
  return true
end

-- A stream found this way is cut into frames here: the built-in dissector,
-- called from a heuristic, sits one call too deep for TCP to reassemble for
-- it (pinfo.can_desegment runs out), so it is handed whole frames.
local max_message = 4000000 -- wire.MaxMessageSize: a longer frame is not waited for
local stream = Proto("renga.stream", "Bitcoin stream found by its magic (Renga plugin)")
local function frame_length(tvb, pinfo, off)
  local n = tvb(off + 16, 4):le_uint()
  if n > max_message then return 24 end -- the built-in dissector flags it
  return 24 + n
end
local function one_frame(tvb, pinfo, tree)
  return bitcoin:call(tvb, pinfo, tree)
end
function stream.dissector(tvb, pinfo, tree)
  return dissect_tcp_pdus(tvb, tree, 24, frame_length, one_frame, true)
end
renga:register_heuristic("tcp", function(tvb, pinfo, tree)
  if not looks_like_frame(tvb) then return false end
  pinfo.conversation = stream
  stream.dissector(tvb, pinfo, tree)
  return true
end)

-- Ports, from the preference renga.ports.
local tcp_table = DissectorTable.get("tcp.port")
local registered_ports
local function register_ports()
  if registered_ports then tcp_table:remove(registered_ports, bitcoin) end
  registered_ports = renga.prefs.ports
  tcp_table:add(registered_ports, bitcoin)
end

function renga.prefs_changed()
  register_ports()
  parse_magics(renga.prefs.magics)
end
register_ports()
parse_magics(renga.prefs.magics)

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
