// A streaming reader of pg_dump's custom archive format (`pg_dump --format=custom`), which counts what the
// archive holds while its bytes pass: each table's COPY rows, the large objects and the TOC entries.
//
// The layout is PostgreSQL's, as written and read by src/bin/pg_dump/pg_backup_archiver.c (WriteHead/ReadHead,
// WriteToc/ReadToc, WriteInt/ReadInt, WriteStr/ReadStr, WriteOffset/ReadOffset) and
// src/bin/pg_dump/pg_backup_custom.c (_WriteExtraToc, _StartData/_EndData, _StartLOs/_StartLO/_EndLO/_EndLOs,
// _readBlockHeader, _PrintData, _LoadLOs) of PostgreSQL 15 (archive versions 1.10 to 1.16 are understood):
//
//   header   "PGDMP", version major/minor/revision (1 byte each), int size (1), offset size (1, from 1.7),
//            format (1; 1 = custom), compression (an int before 1.15; one byte, the algorithm, from 1.15),
//            creation time (7 ints), database name (str), server version (str), pg_dump version (str).
//   TOC      entry count (int), then per entry: dump id (int), had-dumper (int), table oid (str), oid (str),
//            tag (str), desc (str), section (int, from 1.11), defn, drop statement, COPY statement, namespace,
//            tablespace (str each), table access method (str, from 1.14), relkind (int, from 1.16), owner (str),
//            "with oids" (str), dependency ids (str each, ended by a NULL str), data state (1 byte: 1 not set,
//            2 set, 3 no data) + offset (offset-size bytes).
//   data     blocks until the end of the file: type (1 byte: 1 = data, 3 = large objects), dump id (int);
//            a data block is chunks (int length + bytes) ended by a zero length; a large-object block is, per
//            object, its oid (int) + chunks as above, ended by an oid of 0.
//   int      a sign byte (0 positive, 1 negative) + int-size bytes, least significant first.
//   str      an int length (-1: NULL) + that many bytes.
//
// With `pg_dump --compress=0` the chunks of a TABLE DATA entry are COPY text: one row per line, a newline inside
// a value is written `\n`, so every raw newline ends a row; a line `\.` (older archives' end marker) is no row.
#pragma once

#include "core/bytes.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dbkeep::engine::pgdump {

// A TOC entry that has a data block (TABLE DATA, BLOBS, ...), with what its block held.
struct DataEntry {
    std::int64_t dump_id = 0;
    std::string desc;      // "TABLE DATA", "BLOBS"
    std::string schema;    // namespace; bytes in the dump's encoding
    std::string name;      // tag (the table's name for TABLE DATA); bytes in the dump's encoding
    std::int64_t rows = 0; // COPY lines (TABLE DATA)
    std::int64_t large_objects = 0;
    std::uint64_t data_bytes = 0; // payload bytes of the chunks
    bool seen = false;            // its block was read
    // TABLE DATA: the TOC also has the table's TABLE entry. Without one the table belongs to an extension (a
    // configuration table whose user rows pg_dump dumps; CREATE EXTENSION makes the table and its other rows).
    bool table_entry = false;
};

// One entry of the archive's table of contents, as `pg_restore -l` lists it. table_oid, oid, section and owner
// are filled only by a Reader made with keep_toc; the rest always. As `pg_restore -l` lists it (pg_backup_archiver.c,
// PrintTOCSummary): "<dump_id>; <table_oid> <oid> <desc> <schema or -> <name> <owner>".
struct TocEntry {
    std::int64_t dump_id = 0;
    std::string table_oid, oid;     // the catalog id as the archive stores it (decimal text)
    std::string desc;               // "TABLE", "TABLE DATA", "INDEX", "SEQUENCE SET", "ACL" ...
    int section = 0;                // 1 none, 2 pre-data, 3 data, 4 post-data (archive 1.11 on); 0 not recorded
    std::string schema;             // namespace, empty when none; bytes in the dump's encoding
    std::string name;               // tag; bytes in the dump's encoding
    std::string owner;              // bytes in the dump's encoding
    bool had_dumper = false;        // the entry had a data dumper (its data is a block of the archive)
    bool has_definition = false;    // its defn (CREATE ... statement) is not empty
    std::vector<std::int64_t> deps; // dump ids of the entries it depends on
    bool has_data = false;          // the archive holds a data block for it
};

// Whether `pg_restore -l` (PostgreSQL 15) lists the entry (pg_backup_archiver.c, _tocEntryRequired with
// pg_restore's defaults): not ENCODING, STDSTRINGS or SEARCHPATH (handled specially), DATABASE and DATABASE
// PROPERTIES only with `create` (pg_restore --create), else only an entry with data or a definition. Pure.
bool listed_by_pg_restore(const TocEntry& entry, bool create = false);

// "pre-data", "data", "post-data", "none", or "" for a section this reader does not know.
const char* section_name(int section) noexcept;

// What the archive says about itself, filled while reading.
struct Summary {
    int version_major = 0, version_minor = 0, version_rev = 0;
    int int_size = 0, offset_size = 0;
    std::string database;       // the dumped database's name (bytes in its encoding)
    std::string server_version; // "15.18 (Debian 15.18-0+deb12u1)"
    std::string dump_version;   // pg_dump's version, same form
    std::string encoding;       // the dump's encoding, from its ENCODING entry ("UTF8", "LATIN1"); empty: none
    std::int64_t toc_entries = 0;
    std::vector<DataEntry> data; // entries with data, in TOC order
    // Every TOC entry in TOC order (names longer than k_max_kept_string are cut there), and whether the whole
    // TOC has been read (it precedes all data, so a reader fed the first bytes of a dump knows it early). Its
    // catalog ids, section and owner only when the Reader was made with keep_toc.
    std::vector<TocEntry> toc;
    bool toc_complete = false;
    std::int64_t large_objects = 0;
    // False when the archive is one this reader cannot count (a newer archive version, compressed data); the
    // reader then consumes the rest without looking at it and `unsupported` says why.
    bool supported = true;
    std::string unsupported;
};

// Longest string kept from the archive (names, versions); longer ones are skipped, and a TABLE DATA entry whose
// name or schema is longer is corrupt (PostgreSQL names are at most 63 bytes).
inline constexpr std::size_t k_max_kept_string = 4096;
// Longest string accepted at all (PostgreSQL's own 1 GB limit); a longer length is corruption.
inline constexpr std::int64_t k_max_string = std::int64_t{1} << 30;

class Reader {
public:
    // keep_toc: keep every TOC entry in Summary::toc (memory then grows with the number of entries too).
    explicit Reader(bool keep_toc = false);
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // Consumes every byte of data, in any chunking; memory stays bounded by the number of data entries (TOC
    // entries with keep_toc) whatever the data size. Errors (ErrorKind::corruption, naming the offset): not a
    // custom-format archive, a malformed header, TOC or block, a string longer than k_max_string, a block for an
    // unknown entry or read twice. After an error every later call returns that error again.
    Status feed(Bytes data);

    // Call at the end of input: corruption when the archive ends inside the header, the TOC or a block, or
    // before the data block of an entry the TOC announced.
    Status finish();

    const Summary& summary() const noexcept;

private:
    struct State;
    std::unique_ptr<State> m_state;
};

} // namespace dbkeep::engine::pgdump
