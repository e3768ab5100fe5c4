package capture

import _ "embed"

//go:embed renga.lua
var wiresharkPlugin string

// WiresharkPlugin returns the Lua plugin for Wireshark and tshark: it hands
// Renga's TCP ports, and streams with a network magic of its preference
// renga.magics, to the built-in bitcoin dissector, verifies every frame's
// checksum, and decodes sendcmpr, cmpr, witness transactions, BIP152's
// compact-block messages, the other later BIPs' messages the built-in
// dissector lacks, and the LAN discovery datagram. Install it as a personal plugin (for example
// ~/.local/lib/wireshark/plugins/renga.lua) or load it with
// `tshark -X lua_script:renga.lua`.
func WiresharkPlugin() string { return wiresharkPlugin }
