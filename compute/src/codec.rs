//! The `PhysicalExtensionCodec` for Blueshift's own plan nodes, so a stage that contains
//! them can be serialized with datafusion-proto on the leader and rebuilt on a node.

use std::sync::Arc;

use blueshift_storage::{ScanSpec, SliceScanExec};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

const TAG_SLICE_SCAN: u8 = 1;

#[derive(Debug, Default, Clone, Copy)]
pub struct BlueshiftCodec;

impl PhysicalExtensionCodec for BlueshiftCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match buf.split_first() {
            Some((&TAG_SLICE_SCAN, body)) => {
                let spec: ScanSpec = serde_json::from_slice(body)
                    .map_err(|e| DataFusionError::Internal(format!("bad scan node: {e}")))?;
                Ok(Arc::new(SliceScanExec::new(spec)))
            }
            _ => Err(DataFusionError::Internal("unknown Blueshift plan node".into())),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<SliceScanExec>() {
            buf.push(TAG_SLICE_SCAN);
            serde_json::to_writer(buf, scan.spec())
                .map_err(|e| DataFusionError::Internal(format!("encode scan node: {e}")))?;
            return Ok(());
        }
        Err(DataFusionError::Internal(format!(
            "plan node {} cannot be sent to a compute node",
            node.name()
        )))
    }
}
