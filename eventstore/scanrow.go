package eventstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// A rebuild reads the whole log through Scan, a million rows and more.
// pgx's generic Scan, which plans each column's conversion anew for every
// row, was half of the reading goroutine's CPU (0.85 µs a row); the rows
// are decoded here from their wire values instead, when their columns
// come in the formats this decoder knows (else Scan is used as before).

// scanColumns are the types and wire formats of Scan's columns, in order:
// position, transaction id, event id, stream, version, organization,
// type, schema version, data, metadata (jsonb or a NULL bytea), recorded at.
var scanColumns = [...]struct {
	oids   []uint32
	format int16
}{
	{[]uint32{pgtype.Int8OID}, pgtype.BinaryFormatCode},
	{[]uint32{pgtype.Int8OID}, pgtype.BinaryFormatCode},
	{[]uint32{pgtype.UUIDOID}, pgtype.BinaryFormatCode},
	{[]uint32{pgtype.TextOID}, -1},
	{[]uint32{pgtype.Int4OID}, pgtype.BinaryFormatCode},
	{[]uint32{pgtype.TextOID}, -1},
	{[]uint32{pgtype.TextOID}, -1},
	{[]uint32{pgtype.Int4OID}, pgtype.BinaryFormatCode},
	{[]uint32{pgtype.JSONBOID}, -1},
	{[]uint32{pgtype.JSONBOID, pgtype.ByteaOID}, -1},
	{[]uint32{pgtype.TimestamptzOID}, pgtype.BinaryFormatCode},
}

// scanDecoder reads the rows of one Scan.
type scanDecoder struct {
	// jsonbBinary marks the jsonb columns sent in binary, whose text
	// follows a version byte.
	jsonbBinary [len(scanColumns)]bool
	// names keeps one copy of the strings that repeat across a read (the
	// event types and organizations): a rebuild holds every event of a
	// batch, and a string of its own for each was an allocation a row
	// and the collector's work.
	names map[string]string
}

// newScanDecoder returns a decoder for rows of fields, or false when their
// types or formats are not the ones it reads. A text or jsonb value reads
// alike in either format but for jsonb's leading version byte in binary.
func newScanDecoder(fields []pgconn.FieldDescription) (*scanDecoder, bool) {
	if len(fields) != len(scanColumns) {
		return nil, false
	}
	d := &scanDecoder{names: map[string]string{}}
	for i, f := range fields {
		c := scanColumns[i]
		known := false
		for _, oid := range c.oids {
			known = known || f.DataTypeOID == oid
		}
		binaryOnly := c.format >= 0 || f.DataTypeOID == pgtype.ByteaOID
		if !known || (binaryOnly && f.Format != pgtype.BinaryFormatCode) {
			return nil, false
		}
		d.jsonbBinary[i] = f.DataTypeOID == pgtype.JSONBOID && f.Format == pgtype.BinaryFormatCode
	}
	return d, true
}

const maxInterned = 4096

func (d *scanDecoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s
}

var errScanNull = errors.New("unexpected NULL")

// pgEpochUnixMicros is PostgreSQL's epoch for binary timestamps
// (2000-01-01 UTC) in microseconds since the Unix epoch.
const pgEpochUnixMicros = 946684800 * 1000000

// decode reads one row of Scan's columns from their wire values; the
// values are copied, as the connection reuses their memory for the next
// row.
func (d *scanDecoder) decode(raw [][]byte, e *RecordedEvent) error {
	if len(raw) != len(scanColumns) {
		return fmt.Errorf("%d columns, want %d", len(raw), len(scanColumns))
	}
	for i, v := range raw {
		if v == nil && i != 9 {
			return fmt.Errorf("column %d: %w", i, errScanNull)
		}
	}
	int8At := func(i int) (int64, error) {
		if len(raw[i]) != 8 {
			return 0, fmt.Errorf("column %d: %d bytes for an int8", i, len(raw[i]))
		}
		return int64(binary.BigEndian.Uint64(raw[i])), nil
	}
	int4At := func(i int) (int, error) {
		if len(raw[i]) != 4 {
			return 0, fmt.Errorf("column %d: %d bytes for an int4", i, len(raw[i]))
		}
		return int(int32(binary.BigEndian.Uint32(raw[i]))), nil
	}
	bytesAt := func(i int) ([]byte, error) {
		v := raw[i]
		if d.jsonbBinary[i] {
			if len(v) == 0 || v[0] != 1 {
				return nil, fmt.Errorf("column %d: unknown jsonb version", i)
			}
			v = v[1:]
		}
		return append([]byte(nil), v...), nil
	}
	var err error
	if e.Position, err = int8At(0); err != nil {
		return err
	}
	xid, err := int8At(1)
	if err != nil {
		return err
	}
	e.TransactionID = uint64(xid)
	if len(raw[2]) != 16 {
		return fmt.Errorf("column 2: %d bytes for a uuid", len(raw[2]))
	}
	copy(e.ID[:], raw[2])
	e.StreamID = string(raw[3])
	if e.StreamVersion, err = int4At(4); err != nil {
		return err
	}
	e.OrgID, e.Type = d.intern(raw[5]), d.intern(raw[6])
	if e.SchemaVersion, err = int4At(7); err != nil {
		return err
	}
	if e.Data, err = bytesAt(8); err != nil {
		return err
	}
	e.Stored = e.Data
	if raw[9] != nil {
		if e.RawMetadata, err = bytesAt(9); err != nil {
			return err
		}
	}
	us, err := int8At(10)
	if err != nil {
		return err
	}
	us += pgEpochUnixMicros
	e.RecordedAt = time.Unix(us/1000000, (us%1000000)*1000) // as pgx reads it
	return nil
}
