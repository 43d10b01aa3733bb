//! Shared test helpers: the travel services (`skald_examples::travel`), coordinators on the kit's store,
//! and ledger checks.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use skald_core::EventStore;
use skald_saga::{
    Coordinator, CoordinatorHandle, CoordinatorOptions, ExecutionDescription, ExecutionStatus, StartExecution,
};
use skald_testkit::TestStore;

pub use skald_examples::travel::{self, Services};

pub const WAIT: Duration = Duration::from_secs(20);

/// A travel input; `flight`/`car` "FAIL" or `amount` > 1000 pick a failure.
pub fn trip(id: &str, flight: &str, car: &str, amount: u64) -> Value {
    json!({"trip_id": id, "flight": flight, "car": car, "amount": amount})
}

pub struct World {
    pub store: Arc<dyn EventStore>,
    pub services: Services,
    pub base: String,
    pub saga: CoordinatorHandle,
}

pub async fn world(kit: &TestStore) -> World {
    world_with(kit, |o| o).await
}

pub async fn world_with(kit: &TestStore, tune: impl FnOnce(CoordinatorOptions) -> CoordinatorOptions) -> World {
    let store: Arc<dyn EventStore> = kit.store();
    let services = Services::default();
    let base = travel::spawn(services.clone()).await.unwrap();
    let options = tune(CoordinatorOptions { resources: travel::registry(&base), ..Default::default() });
    let saga = Coordinator::start(store.clone(), options).await.unwrap();
    saga.create_state_machine("travel", travel::definition()).await.unwrap();
    World { store, services, base, saga }
}

impl World {
    pub async fn run(&self, name: &str, input: Value) -> ExecutionDescription {
        let started = self.saga.start_execution(StartExecution::new("travel", name, input)).await.unwrap();
        let done = self.saga.wait_for_execution(&started.execution_id, WAIT).await.unwrap();
        assert_ne!(done.status, ExecutionStatus::Running, "{name} did not finish");
        // The waiter's answer comes from memory; it must say what the history says.
        let described = self.saga.describe_execution(&started.execution_id).await.unwrap();
        assert_eq!(done, described, "{name}: waiting and describing disagree");
        done
    }

    pub fn effects(&self, trip: &str) -> Vec<String> {
        effects_of(&self.services, trip)
    }
}

/// The endpoints that took effect for `trip`, in order.
pub fn effects_of(services: &Services, trip: &str) -> Vec<String> {
    travel::effects_of(services, trip)
}

/// Checks the saga invariant for one trip ([`travel::check_trip`]).
pub fn check_saga_effects(services: &Services, trip: &str, status: ExecutionStatus) {
    let succeeded = match status {
        ExecutionStatus::Succeeded => true,
        ExecutionStatus::Failed => false,
        other => panic!("trip {trip}: unexpected status {other}"),
    };
    if let Err(broken) = travel::check_trip(services, trip, succeeded) {
        panic!("{broken}");
    }
}
