-- Temporal keeps its own databases beside creditflow's in the same server (auto-setup creates the schemas).
create database temporal;
create database temporal_visibility;
