// Package store keeps Renga's chain on disk: block bodies in append-only
// files and everything else — the block index, the UTXO set, undo data, the
// active chain's heights and the tip — in a Pebble database. It is the only
// package that imports Pebble. It stores records; what they mean (validation,
// fork choice) is package chain's business.
//
// # Files
//
//	<dir>/blocks/blk00000.dat   block bodies, as bitcoind writes them: magic | length uint32 LE | block
//	<dir>/chainstate/           the Pebble database
//
// A new block file is started at every open and whenever one passes
// [MaxBlockFileSize], so bytes written after the last durable commit (by a
// process that crashed) are never appended to; nothing points to them.
//
// # Key layout (Pebble)
//
//	"N"                          network magic (4 bytes): a directory of another network is refused
//	"V"                          schema version (1 byte)
//	"T"                          tip of the active chain: hash (32) | height uint32 BE
//	"i" | hash (32)              block index entry (IndexEntry): header | height | status | seq | file | offset | size
//	                             (deleted again when package chain prunes a header-only side branch)
//	"h" | height uint32 BE       hash of the active chain's block at that height
//	"c" | txid (32) | n uint32 BE  unspent output (Coin): uvarint(height<<1 | coinbase) | uvarint(value) | script
//	"u" | hash (32)              undo record (Undo) of a connected block
//
// Heights and output indexes are big-endian so that keys sort numerically;
// iterating "c" visits the UTXO set in (txid, index) order, which makes
// [DB.ForEachCoin] and the UTXO digest deterministic.
//
// # Durability
//
// Chain state moves only through a [Batch] committed with pebble.Sync: the
// UTXO changes, undo records, height entries and tip marker of one or more
// blocks land together or not at all, so a crash at any moment reopens at a
// consistent tip. Block bodies are appended and fsynced by [DB.AppendBlocks]
// before any index entry that points to them is committed. The write-ahead log
// is never disabled and no write that chain state depends on skips the sync.
//
// # Errors
//
// A missing key is [ErrNotFound]. A record that does not decode is refused with
// its key and the reason (wrapping [ErrCorrupt]); so is a block whose bytes on
// disk do not match its index entry. A directory of another network wraps
// [ErrWrongNetwork].
//
// # Concurrency
//
// A DB is safe for concurrent use: reads may run alongside one writer.
// Committing batches is serialized by the caller (package chain holds a lock).
package store
