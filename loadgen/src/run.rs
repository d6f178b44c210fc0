//! Carrying out a scenario: one pinned executor per shard, progress on the
//! calling thread, the shards' results merged into a [`Report`].

use std::sync::Arc;

use glommio::{LocalExecutorBuilder, Placement};

use crate::control::{ProcessSample, RunControl};
use crate::error::Error;
use crate::limits::PROGRESS_QUEUE_MAX;
use crate::progress::print_until_done;
use crate::report::{self, Report, Samples};
use crate::scenario::{Scenario, ScenarioKind};
use crate::shard::run_shard;
use crate::transport::Connector;

/// glommio's registered-buffer arena per shard; loadgen does no direct file
/// I/O, so the minimum keeps it well under a default memlock limit.
const IO_MEMORY_BYTES: usize = 64 * 1024;

/// Runs `scenario` to its end and reports what it measured. Connections
/// that fail are counted in the report (see [`Report::is_failure`]); `Err`
/// means the run could not start at all.
pub fn run(scenario: &Scenario) -> Result<Report, Error> {
    scenario.validate()?;
    let connector = Connector::new(&scenario.transport).map_err(Error::Transport)?;
    let before_setup = ProcessSample::take(scenario.broker_pid);
    let mut control = RunControl::new(
        scenario.shards,
        scenario.publisher_count(),
        scenario.broker_pid,
        scenario.settle,
    );
    if let ScenarioKind::FanIn {
        shared_group: Some(_),
    } = scenario.kind
    {
        control = control.with_share_group(scenario.publisher_count());
    }
    let control = Arc::new(control);
    let (progress_tx, progress_rx) =
        crossbeam_channel::bounded(PROGRESS_QUEUE_MAX * scenario.shards);
    let cpus = allowed_cpus();
    let mut handles = Vec::with_capacity(scenario.shards);
    let mut spawn_error = None;
    for shard in 0..scenario.shards {
        let (shard_scenario, shard_connector, shard_control, shard_progress) = (
            scenario.clone(),
            connector.for_shard(),
            control.clone(),
            progress_tx.clone(),
        );
        let spawned = LocalExecutorBuilder::new(Placement::Fixed(shard_cpu(
            &cpus,
            scenario.first_cpu,
            shard,
        )))
        .name(&format!("loadgen-{shard}"))
        .io_memory(IO_MEMORY_BYTES)
        .spawn(move || {
            run_shard(
                shard,
                shard_scenario,
                shard_connector,
                shard_control,
                shard_progress,
            )
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(error) => {
                control.abort();
                spawn_error = Some(Error::Executor(error.to_string()));
                break;
            }
        }
    }
    drop(progress_tx);
    print_until_done(progress_rx, scenario.shards, scenario.progress);
    let mut results = Vec::with_capacity(handles.len());
    for (shard, handle) in handles.into_iter().enumerate() {
        results.push(handle.join().map_err(|_| Error::ShardFailed(shard))?);
    }
    if let Some(error) = spawn_error {
        return Err(error);
    }
    let samples = Samples {
        before_setup,
        start: control.start_sample.get().copied(),
        end: control.end_sample.get().copied(),
    };
    let group_counts = control.share_group.as_ref().map(|group| group.counts());
    Ok(report::build(
        scenario,
        &results,
        group_counts.as_deref(),
        samples,
    ))
}

/// The CPUs loadgen may run on (its affinity: `taskset`, a cgroup cpuset),
/// lowest first; CPUs 0 to n-1 for n available when it cannot be read.
fn allowed_cpus() -> Vec<usize> {
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok();
    let cpus: Vec<usize> = allowed
        .map(|allowed| {
            (0..nix::sched::CpuSet::count())
                .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    if cpus.is_empty() {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..count).collect();
    }
    cpus
}

/// The CPU of shard `shard`: of the `allowed` CPUs (lowest first, never
/// empty), the `shard`-th counting from the first at or after `first_cpu`
/// (from the lowest when there is none), wrapping around.
fn shard_cpu(allowed: &[usize], first_cpu: usize, shard: usize) -> usize {
    let start = allowed
        .iter()
        .position(|&cpu| cpu >= first_cpu)
        .unwrap_or(0);
    allowed[(start + shard) % allowed.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfined_shards_count_up_from_the_first_cpu_and_wrap() {
        let all = [0, 1, 2, 3];
        let cpus: Vec<usize> = (0..4).map(|shard| shard_cpu(&all, 1, shard)).collect();
        assert_eq!(cpus, [1, 2, 3, 0]);
    }

    #[test]
    fn confined_shards_stay_on_the_cpus_loadgen_may_use() {
        let allowed = [2, 3];
        let from = |first_cpu| -> Vec<usize> {
            (0..3)
                .map(|shard| shard_cpu(&allowed, first_cpu, shard))
                .collect()
        };
        assert_eq!(from(0), [2, 3, 2]);
        assert_eq!(from(3), [3, 2, 3]);
        assert_eq!(from(9), [2, 3, 2]);
    }

    #[test]
    fn this_process_may_run_on_some_cpu() {
        assert!(!allowed_cpus().is_empty());
    }
}
