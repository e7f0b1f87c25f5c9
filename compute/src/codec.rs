//! The `PhysicalExtensionCodec` for Blueshift's own plan nodes (slice scans, write stages),
//! so a stage that contains them can be serialized with datafusion-proto on the leader and
//! rebuilt on a node.

use std::sync::Arc;

use blueshift_storage::{ScanSpec, SliceScanExec};

use crate::exchange::{ExchangeExec, ExchangeSpec, KeysExec};
use crate::key_filter::KeyFilterExec;
use crate::write::{WriteExec, WriteSpec};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
use datafusion_proto::physical_plan::to_proto::serialize_physical_expr;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::PhysicalExprNode;
use prost::Message;

const TAG_SLICE_SCAN: u8 = 1;
const TAG_WRITE: u8 = 2;
const TAG_EXCHANGE: u8 = 3;
const TAG_KEYS: u8 = 4;
const TAG_KEY_FILTER: u8 = 5;

/// Splits a u32-length-prefixed piece off the front of `buf`.
fn piece(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = buf.split_at_checked(4)?;
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    rest.split_at_checked(len)
}

fn put_piece(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

#[derive(Debug, Default, Clone, Copy)]
pub struct BlueshiftCodec;

impl PhysicalExtensionCodec for BlueshiftCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let bad = |what: &str| DataFusionError::Internal(format!("bad scan node: {what}"));
        match buf.split_first() {
            // tag, u32 length of the JSON spec, the spec, then the predicate (if any).
            Some((&TAG_SLICE_SCAN, body)) => {
                let (len, rest) = body.split_at_checked(4).ok_or_else(|| bad("truncated"))?;
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                let (json, predicate) =
                    rest.split_at_checked(len).ok_or_else(|| bad("truncated"))?;
                let mut spec: ScanSpec =
                    serde_json::from_slice(json).map_err(|e| bad(&e.to_string()))?;
                if !predicate.is_empty() {
                    // Only an optimization: a predicate this node cannot rebuild (say, it calls a
                    // function only the leader knows) is dropped, not an error.
                    spec.predicate = PhysicalExprNode::decode(predicate).ok().and_then(|node| {
                        parse_physical_expr(&node, ctx, &spec.table.schema(), self).ok()
                    });
                }
                Ok(Arc::new(SliceScanExec::new(spec)))
            }
            // tag, then the JSON spec; the input travels as the node's child.
            Some((&TAG_WRITE, json)) => {
                let spec: WriteSpec =
                    serde_json::from_slice(json).map_err(|e| bad(&e.to_string()))?;
                let input = inputs
                    .first()
                    .ok_or_else(|| bad("write stage without its input"))?;
                Ok(Arc::new(WriteExec::new(Arc::clone(input), spec)))
            }
            // tag, the JSON spec, then each key expression; the producer stage is the child.
            Some((&TAG_EXCHANGE, body)) => {
                let (json, mut rest) = piece(body).ok_or_else(|| bad("truncated"))?;
                let spec: ExchangeSpec =
                    serde_json::from_slice(json).map_err(|e| bad(&e.to_string()))?;
                let input = inputs
                    .first()
                    .ok_or_else(|| bad("exchange without its input"))?;
                let mut keys = Vec::new();
                while !rest.is_empty() {
                    let (key, more) = piece(rest).ok_or_else(|| bad("truncated"))?;
                    let node = PhysicalExprNode::decode(key).map_err(|e| bad(&e.to_string()))?;
                    keys.push(parse_physical_expr(&node, ctx, &input.schema(), self)?);
                    rest = more;
                }
                Ok(Arc::new(ExchangeExec::new(Arc::clone(input), keys, spec)))
            }
            // tag, the tap's number (u32), then the source exchange's own encoding: a key
            // tap is a leaf whose producers are the source exchange's.
            Some((&TAG_KEYS, body)) => {
                let (tap, plan) = body.split_at_checked(4).ok_or_else(|| bad("truncated"))?;
                let tap = u32::from_le_bytes(tap.try_into().expect("4 bytes")) as usize;
                let source =
                    datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(
                        plan, ctx, self,
                    )?;
                let source = source
                    .downcast_ref::<ExchangeExec>()
                    .ok_or_else(|| bad("a key tap without its exchange"))?;
                let source = Arc::new(ExchangeExec::new(
                    Arc::clone(source.input()),
                    source.keys().to_vec(),
                    source.spec().clone(),
                ));
                Ok(Arc::new(KeysExec::new(source, tap)?))
            }
            // tag, then the key expression over the input; the keys and the input are
            // the node's children.
            Some((&TAG_KEY_FILTER, on)) => {
                let [keys, input] = inputs else {
                    return Err(bad("a key filter without its keys and input"));
                };
                let node = PhysicalExprNode::decode(on).map_err(|e| bad(&e.to_string()))?;
                let on = parse_physical_expr(&node, ctx, &input.schema(), self)?;
                Ok(Arc::new(KeyFilterExec::try_new(
                    Arc::clone(keys),
                    Arc::clone(input),
                    on,
                )?))
            }
            _ => Err(DataFusionError::Internal(
                "unknown Blueshift plan node".into(),
            )),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<SliceScanExec>() {
            let json = serde_json::to_vec(scan.spec())
                .map_err(|e| DataFusionError::Internal(format!("encode scan node: {e}")))?;
            buf.push(TAG_SLICE_SCAN);
            buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
            buf.extend_from_slice(&json);
            if let Some(predicate) = &scan.spec().predicate {
                // A predicate that cannot be encoded only costs row-group skipping.
                if let Ok(node) = serialize_physical_expr(predicate, self) {
                    buf.extend_from_slice(&node.encode_to_vec());
                }
            }
            return Ok(());
        }
        if let Some(write) = node.downcast_ref::<WriteExec>() {
            let json = serde_json::to_vec(write.spec())
                .map_err(|e| DataFusionError::Internal(format!("encode write node: {e}")))?;
            buf.push(TAG_WRITE);
            buf.extend_from_slice(&json);
            return Ok(());
        }
        if let Some(exchange) = node.downcast_ref::<ExchangeExec>() {
            let json = serde_json::to_vec(exchange.spec())
                .map_err(|e| DataFusionError::Internal(format!("encode exchange: {e}")))?;
            buf.push(TAG_EXCHANGE);
            put_piece(buf, &json);
            for key in exchange.keys() {
                put_piece(buf, &serialize_physical_expr(key, self)?.encode_to_vec());
            }
            return Ok(());
        }
        if let Some(keys) = node.downcast_ref::<KeysExec>() {
            buf.push(TAG_KEYS);
            buf.extend_from_slice(&(keys.tap() as u32).to_le_bytes());
            buf.extend_from_slice(&keys.source().encoded()?);
            return Ok(());
        }
        if let Some(filter) = node.downcast_ref::<KeyFilterExec>() {
            buf.push(TAG_KEY_FILTER);
            buf.extend_from_slice(&serialize_physical_expr(filter.on(), self)?.encode_to_vec());
            return Ok(());
        }
        Err(DataFusionError::Internal(format!(
            "plan node {} cannot be sent to a compute node",
            node.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use blueshift_storage::placement::Topology;
    use blueshift_storage::table::{ColumnDef, ColumnEncoding, DistStyle, SqlType, TableDef};
    use blueshift_storage::{BlockMeta, ScanBlock, ScanPartition, ZoneMap};
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{binary, col, lit};
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion_proto::bytes::{
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };
    use datafusion_proto::physical_plan::DefaultPhysicalProtoConverter;

    use super::*;
    use crate::write::Replaces;

    fn column(name: &str, sql_type: SqlType, nullable: bool) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            sql_type,
            nullable,
            encoding: None,
        }
    }

    fn table() -> TableDef {
        let mut region = column("region", SqlType::Varchar(16), true);
        region.encoding = Some(ColumnEncoding::Bytedict);
        TableDef {
            id: 7,
            name: "sales".into(),
            columns: vec![
                column("id", SqlType::BigInt, false),
                region,
                column("amount", SqlType::Integer, true),
            ],
            dist_style: DistStyle::Key,
            dist_key: Some(0),
            sort_key: vec![2, 0],
            primary_key: vec![],
        }
    }

    fn scan_block(index: u32, id: &str, dv: Option<&str>) -> ScanBlock {
        ScanBlock {
            index,
            id: id.into(),
            rows: 1000 + u64::from(index),
            delete_vector: dv.map(Into::into),
        }
    }

    /// A scan of slices 0, 1 and 3 of `sales` with `amount > 5` pushed down, returning
    /// `amount`, `id` and the row position (`__bs_row`).
    fn scan() -> SliceScanExec {
        let table = table();
        let schema = table.schema();
        let predicate = binary(
            col("amount", &schema).unwrap(),
            Operator::Gt,
            lit(5i32),
            &schema,
        )
        .unwrap();
        SliceScanExec::new(ScanSpec {
            table,
            projection: Some(vec![2, 0, 5]),
            row_ids: true,
            nullable: true,
            partitions: vec![
                ScanPartition {
                    slice: 0,
                    blocks: vec![scan_block(0, "aa", None), scan_block(2, "bb", Some("dv1"))],
                },
                ScanPartition {
                    slice: 1,
                    blocks: vec![],
                },
                ScanPartition {
                    slice: 3,
                    blocks: vec![scan_block(1, "aa", None)],
                },
            ],
            blocks_total: 5,
            blocks_skipped: 1,
            predicate: Some(predicate),
            layout: Default::default(),
            stats: None,
        })
    }

    fn write_spec(replaces: Option<Replaces>) -> WriteSpec {
        WriteSpec {
            query_id: "q-42".into(),
            table: table(),
            topology: Topology {
                nodes: 2,
                slices_per_node: 2,
            },
            nodes: vec!["http://10.0.0.1:7001".into(), "http://10.0.0.2:7001".into()],
            timeout_secs: 30,
            even_start: 9,
            values: vec![0, 1, 2],
            replaces,
        }
    }

    fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap()
    }

    fn round_trip(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let bytes = physical_plan_to_bytes_with_extension_codec(plan, &BlueshiftCodec).unwrap();
        physical_plan_from_bytes_with_extension_codec(
            &bytes,
            &TaskContext::default(),
            &BlueshiftCodec,
        )
        .unwrap()
    }

    fn partitions(plan: &dyn ExecutionPlan) -> usize {
        plan.properties().output_partitioning().partition_count()
    }

    fn decode(buf: &[u8], inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
        BlueshiftCodec.try_decode(
            buf,
            inputs,
            &TaskContext::default(),
            &DefaultPhysicalProtoConverter {},
        )
    }

    fn encode(plan: Arc<dyn ExecutionPlan>) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        BlueshiftCodec.try_encode(plan, &mut buf, &DefaultPhysicalProtoConverter {})?;
        Ok(buf)
    }

    #[test]
    fn key_filter_round_trips_with_its_key_and_children() {
        use arrow::datatypes::{DataType, Field, Schema};
        let keys = Arc::new(EmptyExec::new(Arc::new(Schema::new(vec![Field::new(
            "k",
            DataType::Int64,
            true,
        )]))));
        let input = Arc::new(EmptyExec::new(Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int64, true),
        ]))));
        let on = col("b", &input.schema()).unwrap();
        let filter = KeyFilterExec::try_new(keys, input, on).unwrap();
        let decoded = round_trip(Arc::new(filter));
        let decoded = decoded
            .downcast_ref::<KeyFilterExec>()
            .expect("a KeyFilterExec");
        assert_eq!(decoded.on().to_string(), "b@1");
        assert_eq!(decoded.keys().schema().field(0).name(), "k");
        assert_eq!(decoded.input().schema().fields().len(), 2);
    }

    #[test]
    fn slice_scan_round_trips_with_its_spec_schema_and_predicate() {
        let original = scan();
        let schema = original.schema();
        let decoded = round_trip(Arc::new(scan()));
        let decoded_scan = decoded
            .downcast_ref::<SliceScanExec>()
            .expect("a SliceScanExec");
        assert_eq!(json(decoded_scan.spec()), json(original.spec()));
        let predicate = decoded_scan
            .spec()
            .predicate
            .as_ref()
            .map(|p| p.to_string());
        assert_eq!(predicate.as_deref(), Some("amount@2 > 5"));
        assert_eq!(decoded.schema(), schema);
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["amount", "id", "__bs_row"]);
        assert_eq!(partitions(decoded.as_ref()), 3);
    }

    #[test]
    fn slice_scan_without_predicate_round_trips_without_one() {
        let mut spec = scan().spec().clone();
        spec.predicate = None;
        spec.partitions.truncate(1);
        let decoded = round_trip(Arc::new(SliceScanExec::new(spec.clone())));
        let decoded = decoded.downcast_ref::<SliceScanExec>().unwrap();
        assert!(decoded.spec().predicate.is_none());
        assert_eq!(json(decoded.spec()), json(&spec));
    }

    fn assert_write_round_trips(spec: WriteSpec) {
        let write = WriteExec::new(Arc::new(scan()), spec.clone());
        let decoded = round_trip(Arc::new(write));
        let decoded_write = decoded.downcast_ref::<WriteExec>().expect("a WriteExec");
        assert_eq!(json(decoded_write.spec()), json(&spec));
        let children = decoded.children();
        assert_eq!(children.len(), 1);
        let child = children[0]
            .downcast_ref::<SliceScanExec>()
            .expect("the scan is the write's child");
        assert_eq!(json(child.spec()), json(scan().spec()));
        assert_eq!(
            partitions(decoded.as_ref()),
            3,
            "one write per scan partition"
        );
    }

    #[test]
    fn write_stage_round_trips_with_its_scan_input() {
        assert_write_round_trips(write_spec(None));
    }

    #[test]
    fn write_stage_that_replaces_rows_round_trips_its_blocks() {
        let block = BlockMeta {
            id: "cafe".into(),
            rows: 3,
            bytes: 512,
            zone_maps: vec![
                ZoneMap {
                    min: Some("1".into()),
                    max: Some("3".into()),
                    null_count: 0,
                };
                3
            ],
            deletes: None,
            checksum: Some(7),
        };
        let replaces = Replaces {
            row_ids: [3, 4, 5],
            blocks: BTreeMap::from([(0, vec![block.clone()]), (3, vec![block.clone(), block])]),
        };
        assert_write_round_trips(write_spec(Some(replaces)));
    }

    #[test]
    fn unknown_or_empty_node_bytes_are_an_error() {
        assert!(decode(&[], &[]).is_err());
        assert!(decode(&[99, 1, 2, 3], &[]).is_err());
    }

    #[test]
    fn truncated_scan_node_is_an_error() {
        let buf = encode(Arc::new(scan())).unwrap();
        let json_len = u32::from_le_bytes(buf[1..5].try_into().unwrap()) as usize;
        // The tag alone, part of the length, part of the JSON spec.
        for cut in [1, 3, 5 + json_len / 2, 5 + json_len - 1] {
            assert!(decode(&buf[..cut], &[]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn truncated_or_inputless_write_node_is_an_error() {
        let input: Arc<dyn ExecutionPlan> = Arc::new(scan());
        let buf = encode(Arc::new(WriteExec::new(
            Arc::clone(&input),
            write_spec(None),
        )))
        .unwrap();
        assert!(decode(&buf, std::slice::from_ref(&input)).is_ok());
        assert!(decode(&buf[..buf.len() / 2], std::slice::from_ref(&input)).is_err());
        assert!(decode(&buf, &[]).is_err(), "a write stage needs its input");
    }

    #[test]
    fn truncated_plan_bytes_are_an_error() {
        let bytes =
            physical_plan_to_bytes_with_extension_codec(Arc::new(scan()), &BlueshiftCodec).unwrap();
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            let r = physical_plan_from_bytes_with_extension_codec(
                &bytes[..cut],
                &TaskContext::default(),
                &BlueshiftCodec,
            );
            assert!(r.is_err(), "cut at {cut} of {}", bytes.len());
        }
    }

    #[test]
    fn a_node_that_is_not_blueshift_s_cannot_be_encoded() {
        let empty = EmptyExec::new(table().schema());
        let err = encode(Arc::new(empty)).unwrap_err();
        assert!(err.to_string().contains("EmptyExec"), "{err}");
    }
}
