//! The `PhysicalExtensionCodec` for Blueshift's own plan nodes (slice scans, write stages),
//! so a stage that contains them can be serialized with datafusion-proto on the leader and
//! rebuilt on a node.

use std::sync::Arc;

use blueshift_storage::{ScanSpec, SliceScanExec};

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
        Err(DataFusionError::Internal(format!(
            "plan node {} cannot be sent to a compute node",
            node.name()
        )))
    }
}
