-- The seed's todo schema and a few sample rows. The image loads this file on
-- the primary only, at its first start (see sql/load-on-primary.sh): replicas get
-- the schema and rows from the primary, by seeding or replication, so
-- nothing runs twice.
CREATE DATABASE IF NOT EXISTS tododb CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS tododb.todo (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    title VARCHAR(255) NOT NULL,
    content TEXT NOT NULL,
    status ENUM('TODO', 'PROGRESS', 'DONE') NOT NULL DEFAULT 'TODO',
    created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id)
) ENGINE = InnoDB;

INSERT INTO tododb.todo (title, content, status) VALUES
    ('Set up replication', 'A primary and two replicas that assemble themselves', 'DONE'),
    ('Write the todo API', 'Reads go to the replicas, writes to the primary', 'PROGRESS'),
    ('Tell the team', 'Every node gets a unique server-id from its address', 'TODO');
